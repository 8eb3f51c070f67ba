// Runs the gateway against the real engine and real OpenSSH clients (ssh, scp, sftp, ssh-keyscan):
// `bash test/setup/docker-engine.sh` and `apt-get install openssh-client openssh-sftp-server` first.
// No engine is a failure, not a skip (CI installs one).
import { execFile, execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { once } from "node:events";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { promisify } from "node:util";
import ssh2 from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerodeEngine } from "../container/dockerode-engine.js";
import { createLogger } from "../log/logger.js";
import { holdPortRun } from "../../test/support/port-run.js";
import { reserveFreePort } from "../util/net.js";
import { SshGatewayError } from "./errors.js";
import { hashPassword } from "./password-hash.js";
import { prepareSftpHelper, SFTP_MOUNT_POINT } from "./sftp-helper.js";
import type { SshAccess } from "./ssh-access.js";
import { SshGateway, type SshGatewayOptions } from "./ssh-gateway.js";

const IMAGE = "gpunode-test/busybox:latest";
const RUN_LABEL = "io.gpunode.test-run";
const HOST = "127.0.0.1";
const runId = randomUUID().slice(0, 8);
const engine = new DockerodeEngine();
const logger = createLogger({ name: "ssh-gateway-test", level: "silent", pretty: false });
const dir = mkdtempSync(join(tmpdir(), "gpunode-ssh-gateway-"));
const helperDir = join(dir, "helper");
const keyFile = join(dir, "id_ed25519");
const otherKeyFile = join(dir, "other_ed25519");

let containerId = "";
let containerIp = "";
let opts: SshGatewayOptions;
let gateway: SshGateway;
let port = 0;

function access(over: Partial<SshAccess> = {}): SshAccess {
  return {
    rentalId: `r-${runId}`,
    containerId,
    authorizedKeys: [readFileSync(`${keyFile}.pub`, "utf8")],
    user: "renter",
    containerIp,
    ...over,
  };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const CLIENT_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"];

/** Runs an OpenSSH client; `input` undefined means stdin is /dev/null. */
async function client(cmd: "ssh" | "scp" | "sftp", args: string[], opts: { input?: string; key?: string; port?: number } = {}): Promise<Run> {
  const portFlag = cmd === "ssh" ? "-p" : "-P";
  const child = spawn(cmd, [...CLIENT_OPTS, "-i", opts.key ?? keyFile, portFlag, String(opts.port ?? port), ...args], {
    stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  child.stdin?.end(opts.input);
  if (!child.stdout || !child.stderr) throw new Error("spawn gave no output pipes");
  const [stdout, stderr, [code]] = await Promise.all([text(child.stdout), text(child.stderr), once(child, "close") as Promise<[number | null]>]);
  return { code, stdout, stderr };
}

const target = (user = "renter"): string => `${user}@${HOST}`;

/** Resolves with everything read so far once `pattern` shows up in the stream's output. */
function waitFor(stream: NodeJS.ReadableStream, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const onData = (d: Buffer): void => {
      seen += d.toString("utf8");
      const m = pattern.exec(seen);
      if (m) {
        stream.off("data", onData);
        resolve(seen);
      }
    };
    stream.on("data", onData);
    stream.once("end", () => reject(new Error(`stream ended before ${pattern}; saw ${JSON.stringify(seen)}`)));
  });
}

/** An ssh2 client connection (for what OpenSSH in batch mode cannot do: passwords, window-change). */
async function ssh2Connect(cfg: Partial<ssh2.ConnectConfig>): Promise<ssh2.Client> {
  const c = new ssh2.Client();
  const ready = once(c, "ready");
  c.connect({ host: HOST, port, username: "renter", ...cfg });
  await ready; // rejects with the client's "error" event
  return c;
}

async function execIn(cmd: string[]): Promise<string> {
  const s = await engine.exec(containerId, { cmd, tty: false, stdin: false });
  const [out] = await Promise.all([text(s.stdout), text(s.stderr)]);
  expect(await s.wait(AbortSignal.timeout(10_000))).toBe(0);
  return out;
}

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

beforeAll(async () => {
  await engine.ping(AbortSignal.timeout(5_000)).catch((err: unknown) => {
    throw new Error(`no Docker engine answers: run \`bash test/setup/docker-engine.sh\` first (${String(err)})`, { cause: err });
  });
  for (const f of [keyFile, otherKeyFile]) execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", f]);
  await prepareSftpHelper(helperDir);
  containerId = await engine.createAndStart({
    name: `gpunode-test-${runId}-ssh`,
    image: IMAGE,
    labels: { [RUN_LABEL]: runId },
    gpuDeviceIds: [],
    nanoCpus: 1_000_000_000,
    memoryBytes: 256 * 1024 * 1024,
    pidsLimit: 128,
    // A web server on :8000 for `ssh -L`; it also keeps the container running.
    cmd: ["/bin/sh", "-c", "mkdir -p /www && echo forwarded-ok > /www/index.html && exec httpd -f -p 8000 -h /www"],
    mounts: [{ type: "bind", source: helperDir, target: SFTP_MOUNT_POINT, readOnly: true }],
  });
  containerIp = (await execIn(["hostname", "-i"])).trim().split(/\s+/)[0] ?? "";
  expect(containerIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  const first = await reserveFreePort(HOST);
  opts = { hostKeyPath: join(dir, "state", "ssh_host_ed25519_key"), listenHost: HOST, ports: { first, last: first + 20 }, helperDir };
  gateway = new SshGateway(opts, { engine, logger });
  ({ port } = await gateway.open(access()));
});

afterAll(async () => {
  await gateway?.closeAll();
  const mine = await engine.list({ labels: { [RUN_LABEL]: runId } });
  await Promise.all(mine.map((c) => engine.remove(c.id, { force: true })));
  rmSync(dir, { recursive: true, force: true });
});

describe("SshGateway: commands and shells", () => {
  it("runs a command with its exit code, stdout and stderr kept apart", async () => {
    const r = await client("ssh", [target(), "echo out; echo err >&2; exit 7"]);
    expect(r).toEqual({ code: 7, stdout: "out\n", stderr: "err\n" });
  });

  it("forwards stdin to the command (echo hi | ssh host cat)", async () => {
    expect(await client("ssh", [target(), "cat"], { input: "hi\n" })).toMatchObject({ code: 0, stdout: "hi\n" });
  });

  it("finishes `ssh host true </dev/null` (stdin at EOF before the exec starts)", async () => {
    expect(await client("ssh", [target(), "true"])).toMatchObject({ code: 0, stdout: "" });
  });

  it("is idempotent by rental and forwards SetEnv variables", async () => {
    expect(await gateway.open(access())).toEqual({ port });
    const r = await client("ssh", ["-o", "SetEnv=GPUNODE_TEST=from-client", target(), 'echo "$GPUNODE_TEST"; id -un']);
    expect(r).toMatchObject({ code: 0, stdout: "from-client\nroot\n" });
  });

  it("runs /bin/sh on stdin for a shell without a pty (ssh -T host <script)", async () => {
    expect(await client("ssh", ["-T", target()], { input: "echo from-script\nexit 5\n" })).toMatchObject({ code: 5, stdout: "from-script\n" });
  });

  it("gives `ssh -tt` an interactive login shell on a pty", async () => {
    const r = await client("ssh", ["-tt", target()], { input: "tty; exit 3\n" });
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/\/dev\/pts\/\d+/);
  });

  it("runs a command on a pty with `ssh -tt host cmd`", async () => {
    const r = await client("ssh", ["-tt", target(), "tty; exit 4"]);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/^\/dev\/pts\/\d+\r\n$/);
  });

  it("sets the pty size before the shell starts and applies window changes", async () => {
    const c = await ssh2Connect({ privateKey: readFileSync(keyFile) });
    try {
      const shell = await new Promise<ssh2.ClientChannel>((resolve, reject) =>
        c.shell({ term: "xterm", rows: 33, cols: 101 }, (err, ch) => (err ? reject(err) : resolve(ch))),
      );
      const closed = once(shell, "close");
      shell.write("stty size; echo TERM=$TERM\n");
      expect(await waitFor(shell, /33 101\r\nTERM=xterm/)).not.toContain("gpunode-pid");
      shell.setWindow(40, 120, 0, 0);
      shell.write("stty size\n");
      await waitFor(shell, /40 120/);
      shell.end("exit 0\n");
      await closed;
    } finally {
      c.end();
    }
  });

  it("hangs up a terminal session whose client went away (docker exec never would)", async () => {
    const rentalId = `r-${runId}-hup`;
    const { port: hupPort } = await gateway.open(access({ rentalId }));
    const c = await ssh2Connect({ port: hupPort, privateKey: readFileSync(keyFile) });
    const shell = await new Promise<ssh2.ClientChannel>((resolve, reject) =>
      c.shell({ term: "xterm", rows: 24, cols: 80 }, (err, ch) => (err ? reject(err) : resolve(ch))),
    );
    shell.write("echo shell-pid=$$\n");
    const pid = /shell-pid=(\d+)\r\n/.exec(await waitFor(shell, /shell-pid=\d+\r\n/))?.[1] ?? "";
    expect(await execIn(["sh", "-c", `kill -0 ${pid} && echo alive`])).toBe("alive\n");
    c.destroy(); // the client vanishes without a goodbye
    await gateway.close(rentalId); // waits for hang-ups of abandoned sessions
    // SIGHUP is sent; the engine reaps the process a moment later.
    const gone = await execIn(["sh", "-c", `for i in $(seq 100); do kill -0 ${pid} 2>/dev/null || { echo gone; exit 0; }; sleep 0.05; done; echo alive`]);
    expect(gone).toBe("gone\n");
  });
});

describe("SshGateway: file transfer", () => {
  it("copies a 5 MB file up and down with scp, byte for byte", async () => {
    const up = join(dir, "up.bin");
    const down = join(dir, "down.bin");
    writeFileSync(up, randomBytes(5 * 1024 * 1024));
    expect(await client("scp", [up, `${target()}:/tmp/up.bin`])).toMatchObject({ code: 0, stderr: "" });
    expect(await execIn(["sh", "-c", "sha256sum /tmp/up.bin | cut -d' ' -f1"])).toBe(`${sha256(up)}\n`);
    expect(await client("scp", [`${target()}:/tmp/up.bin`, down])).toMatchObject({ code: 0, stderr: "" });
    expect(sha256(down)).toBe(sha256(up));
  });

  it("speaks legacy SCP (scp -O) into an image without scp: a tree up and back with -r -p, modes and times kept", async () => {
    expect(await execIn(["sh", "-c", "command -v scp || echo none"])).toBe("none\n");
    const tree = join(dir, "legacy tree");
    mkdirSync(join(tree, "sub"), { recursive: true });
    writeFileSync(join(tree, "a file.txt"), "first\n");
    writeFileSync(join(tree, "sub", "run.sh"), "#!/bin/sh\necho ran\n");
    chmodSync(join(tree, "sub", "run.sh"), 0o750);
    const mtime = new Date("2020-02-02T02:02:02Z");
    utimesSync(join(tree, "a file.txt"), mtime, mtime);
    const up = await client("scp", ["-O", "-r", "-p", tree, `${target()}:/tmp/`]);
    expect(up).toMatchObject({ code: 0, stderr: "" });
    expect(await execIn(["sh", "-c", "cat '/tmp/legacy tree/a file.txt'; stat -c '%a %Y' '/tmp/legacy tree/sub/run.sh' '/tmp/legacy tree/a file.txt'"])).toBe(
      `first\n750 ${Math.floor(statSync(join(tree, "sub", "run.sh")).mtimeMs / 1000)}\n${(statSync(join(tree, "a file.txt")).mode & 0o777).toString(8)} ${mtime.getTime() / 1000}\n`,
    );
    const back = join(dir, "legacy back");
    mkdirSync(back);
    const down = await client("scp", ["-O", "-r", "-p", `${target()}:'/tmp/legacy tree'`, back]);
    expect(down).toMatchObject({ code: 0, stderr: "" });
    expect(readFileSync(join(back, "legacy tree", "a file.txt"), "utf8")).toBe("first\n");
    expect(statSync(join(back, "legacy tree", "sub", "run.sh")).mode & 0o777).toBe(0o750);
    expect(Math.floor(statSync(join(back, "legacy tree", "a file.txt")).mtimeMs / 1000)).toBe(mtime.getTime() / 1000);
  });

  it("runs an sftp batch: put, ls, get", async () => {
    const src = join(dir, "sftp-src.txt");
    const back = join(dir, "sftp-back.txt");
    writeFileSync(src, "hello over sftp\n");
    const batch = join(dir, "batch");
    writeFileSync(batch, `put ${src} /tmp/sftp.txt\nls -l /tmp\nget /tmp/sftp.txt ${back}\n`);
    const r = await client("sftp", ["-b", batch, target()]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\/tmp\/sftp\.txt|sftp\.txt/);
    expect(readFileSync(back, "utf8")).toBe("hello over sftp\n");
  });
});

describe("SshGateway: port forwarding", () => {
  it("forwards ssh -L localhost:8000 to the container's web server", async () => {
    const local = await reserveFreePort(HOST);
    const child = spawn("ssh", [...CLIENT_OPTS, "-i", keyFile, "-p", String(port), "-L", `${local}:localhost:8000`, target(), "echo ready; read x"], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    try {
      // OpenSSH listens on local forwards before it opens the session, so "ready" means listening.
      await waitFor(child.stdout, /ready/);
      const res = await fetch(`http://${HOST}:${local}/index.html`);
      expect(await res.text()).toBe("forwarded-ok\n");
    } finally {
      child.stdin.end("done\n");
      await once(child, "close");
    }
  });
});

describe("SshGateway: the -L banner", () => {
  /** A stock client's default LogLevel (INFO) prints the server's banner; the other tests hide it. */
  const sshAtInfo = (p: number) =>
    promisify(execFile)("ssh", ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=INFO", "-i", keyFile, "-p", String(p), target(), "true"]);

  it("says -L is unavailable only while the container has no address, and not once it has one", async () => {
    const rentalId = `r-${runId}-late-ip`;
    try {
      // A rental's listener opens before its container exists (so before it has an address).
      const { port: p } = await gateway.open(access({ rentalId, containerIp: undefined }));
      expect((await sshAtInfo(p)).stderr).toContain("port forwarding (ssh -L) is unavailable");
      await gateway.open(access({ rentalId }));
      expect((await sshAtInfo(p)).stderr).not.toContain("port forwarding");
    } finally {
      await gateway.close(rentalId);
    }
  });
});

describe("SshGateway: login", () => {
  it("refuses a key that is not authorized", async () => {
    const r = await client("ssh", [target(), "true"], { key: otherKeyFile });
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/Permission denied/);
  });

  it("refuses another login name", async () => {
    const r = await client("ssh", [target("root"), "true"]);
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/Permission denied/);
  });

  it("accepts the right password and refuses a wrong one when a password hash is set", async () => {
    const rentalId = `r-${runId}-pw`;
    const { port: pwPort } = await gateway.open(access({ rentalId, authorizedKeys: [], passwordHash: await hashPassword("s3cret pass") }));
    try {
      const c = await ssh2Connect({ port: pwPort, password: "s3cret pass" });
      const out = await new Promise<string>((resolve, reject) =>
        c.exec("echo via-password", (err, ch) => (err ? reject(err) : resolve(text(ch)))),
      );
      expect(out).toBe("via-password\n");
      c.end();
      const err = await ssh2Connect({ port: pwPort, password: "wrong" }).catch((e: unknown) => e);
      expect((err as { level?: string }).level).toBe("client-authentication");
      // Keys are not accepted by a password-only rental.
      expect((await client("ssh", [target(), "true"], { port: pwPort })).code).toBe(255);
    } finally {
      await gateway.close(rentalId);
    }
  });

  it("refuses an access it cannot serve", async () => {
    const err = await gateway.open(access({ rentalId: `r-${runId}-bad`, authorizedKeys: ["ssh-ed25519 bm90IGEga2V5"] })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshGatewayError);
    expect((err as SshGatewayError).code).toBe("invalid_access");
  });
});

describe("SshGateway: lifecycle", () => {
  it("shows the client the fingerprint it reports, and keeps the host key across restarts", async () => {
    const fingerprint = await gateway.hostKeyFingerprint();
    // Asynchronously: the gateway answering the scan runs in this process.
    const scan = `ssh-keyscan -t ed25519 -p ${port} ${HOST} 2>/dev/null | ssh-keygen -lf -`;
    const { stdout } = await promisify(execFile)("sh", ["-c", scan], { encoding: "utf8" });
    expect(stdout.split(" ")[1]).toBe(fingerprint);
    expect(statSync(opts.hostKeyPath).mode & 0o777).toBe(0o600);
    const again = new SshGateway(opts, { engine, logger });
    expect(await again.hostKeyFingerprint()).toBe(fingerprint);
  });

  it("skips ports in use, honours a preferred port and says when the range is exhausted", async () => {
    // Holds first and first+2; the gateway gets the middle one.
    const held = await holdPortRun(HOST, 3);
    const { first } = held;
    await held.release(first + 1);
    const small = new SshGateway({ ...opts, ports: { first, last: first + 2 } }, { engine, logger });
    try {
      expect(await small.open(access({ rentalId: "a" }))).toEqual({ port: first + 1 });
      const err = await small.open(access({ rentalId: "b" })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SshGatewayError);
      expect((err as SshGatewayError).code).toBe("ports_exhausted");
      await small.close("a");
      await held.release(first + 2);
      // Adoption after a restart: the port from the earlier life is taken again when free.
      expect(await small.open(access({ rentalId: "a" }), first + 2)).toEqual({ port: first + 2 });
    } finally {
      await small.closeAll();
      await held.releaseAll();
    }
  });

  it("close() ends live sessions and stops listening", async () => {
    const rentalId = `r-${runId}-close`;
    const { port: closePort } = await gateway.open(access({ rentalId }));
    const child = spawn("ssh", [...CLIENT_OPTS, "-i", keyFile, "-p", String(closePort), target(), "echo started; read x"], { stdio: ["pipe", "pipe", "pipe"] });
    await waitFor(child.stdout, /started/);
    const exited = once(child, "close");
    await gateway.close(rentalId);
    const [code] = (await exited) as [number];
    expect(code).toBe(255);
    const after = await client("ssh", [target(), "true"], { port: closePort });
    expect(after.code).toBe(255);
    expect(after.stderr).toMatch(/Connection refused/);
  });
});
