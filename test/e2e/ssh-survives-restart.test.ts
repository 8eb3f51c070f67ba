// A daemon restart (upgrade, crash, kill -9) must not cut a renter's SSH session: with -ssh-gateway external
// the listeners and sessions live in node-ssh-gateway, a process of its own. Real processes throughout: a hub,
// the gateway, a daemon with the stand-in NVML on the real Docker engine, and the real OpenSSH client.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { tcpReachable } from "../../internal/channel/tcp-probe.js";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerodeEngine } from "../../internal/container/dockerode-engine.js";
import { type CommandResult, type Heartbeat, type RentalInfo, RentalState } from "../../internal/proto/gen/gpunode/v1/gpunode.js";
import { buildFakeNvml } from "../fixtures/nvml/build-fake-nvml.js";
import { fakeNvmlConfig, writeFakeNvmlConfig } from "../fixtures/nvml/fake-nvml-config.js";
import { until } from "../support/chain.js";
import { removeNodeLeftovers } from "../support/node-leftovers.js";
import { runClient, type SshKey, sshExec, sshKeypair } from "../support/openssh.js";
import { DAEMON_SCRIPT, type Program } from "../support/program.js";
import { startDaemon, startGateway, tempDir, writeKeyFile } from "../support/stack.js";
import { nodeOnline, startTestHub, type TestHub } from "../support/test-hub.js";

const BUSYBOX = "gpunode-test/busybox:latest";
const BIG_FILE_BYTES = 200 * 1024 ** 2;
/** scp -l (Kbit/s): 200 MiB take about 10 s, so the copy is in flight through the kill and the restart. */
const SCP_LIMIT_KBITS = 160_000;
const CLIENT_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"];

interface Client {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  ended: Promise<number | null>;
}

function spawnClient(program: "ssh" | "scp", args: string[]): Client {
  const child = spawn(program, [...CLIENT_OPTS, ...args], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const ended = (once(child, "close") as Promise<[number | null]>).then(([code]) => code);
  return { child, stdout: () => out, stderr: () => err, ended };
}

/** Resolves once the client's output shows `text`; rejects when the client ends first. */
function printed(c: Client, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (!c.stdout().includes(text)) return;
      c.child.stdout?.off("data", check);
      resolve();
    };
    c.child.stdout?.on("data", check);
    void c.ended.then((code) => reject(new Error(`the client ended (code ${code}) before printing ${JSON.stringify(text)}: ${c.stderr()}`)));
    check();
  });
}

/** `node-daemon status` as a provider types it: the node's notices are in it. */
function daemonStatus(stateDir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [DAEMON_SCRIPT, "status", "-state-dir", stateDir], { timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout)));
  });
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
const accepts = (port: number): Promise<boolean> => tcpReachable(`127.0.0.1:${port}`, 2_000);

describe("a daemon restart does not cut renters' SSH sessions (-ssh-gateway external)", () => {
  const engine = new DockerodeEngine();
  let t: TestHub;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let stateDir: string;
  let gateway: Program;
  let daemon: Program;
  let daemonArgs: string[];
  let daemonEnv: NodeJS.ProcessEnv;
  let nodeId: string;
  let key: SshKey;
  const portBase = 30_000 + Math.floor(Math.random() * 300) * 100;

  const command = (body: Parameters<TestHub["hub"]["channel"]["sendCommand"]>[1]): Promise<CommandResult> => t.hub.channel.sendCommand(nodeId, body, { timeoutMs: 60_000 });
  const startRental = async (rentalId: string, gpuIds: string[]): Promise<RentalInfo> => {
    const r = await command({
      $case: "startRental",
      value: { rentalId, image: BUSYBOX, gpus: { count: 0, ids: gpuIds, model: "" }, cpuMillis: 0, memoryBytes: 256 * 1024 ** 2, shmBytes: 0, pidsLimit: 0, env: [], command: [], sshPublicKeys: [key.publicKey], sshPasswordHash: "", maxDurationSeconds: 0, runAsRoot: false },
    });
    if (r.outcome?.$case !== "rental") throw new Error(`expected a rental, got ${JSON.stringify(r.outcome)}`);
    return r.outcome.value;
  };
  /** The next heartbeat from this node that passes `ok`. */
  const heartbeat = (ok: (hb: Heartbeat) => boolean, what: string, timeoutMs = 30_000): Promise<Heartbeat> =>
    new Promise((resolve, reject) => {
      const onBeat = (id: string, hb: Heartbeat): void => {
        if (id !== nodeId || !ok(hb)) return;
        clearTimeout(timer);
        t.hub.channel.events.off("heartbeat", onBeat);
        resolve(hb);
      };
      const timer = setTimeout(() => {
        t.hub.channel.events.off("heartbeat", onBeat);
        reject(new Error(`no heartbeat showed ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      t.hub.channel.events.on("heartbeat", onBeat);
    });
  const launchDaemon = (): Program => (daemon = startDaemon(daemonArgs, daemonEnv));

  beforeAll(async () => {
    dir = await tempDir("ssh-survives");
    stateDir = join(dir.path, "state");
    t = await startTestHub({ heartbeatIntervalMs: 1_000 });
    const nvmlConfig = join(dir.path, "nvml.json");
    await writeFakeNvmlConfig(nvmlConfig, fakeNvmlConfig(2));
    key = await sshKeypair(dir.path, "renter");
    const walletKey = await writeKeyFile(dir.path, Wallet.createRandom());
    gateway = await startGateway(stateDir);
    daemonArgs = [
      "-hub", t.grpcTarget, "-hub-http", t.http.baseUrl, "-hub-ca-fingerprint", t.hub.info.caFingerprint,
      "-host", "127.0.0.1", "-private-key-file", walletKey, "-cert-dir", join(dir.path, "certs"), "-state-dir", stateDir,
      "-api-port", "0", "-api-listen-host", "127.0.0.1", "-nvml-library", await buildFakeNvml(), "-enable-mining=false",
      "-ssh-ports", `${portBase}-${portBase + 49}`, "-ssh-listen-host", "127.0.0.1", "-ssh-gateway", "external",
    ];
    daemonEnv = { FAKE_NVML_CONFIG: nvmlConfig };
    launchDaemon();
    nodeId = (await daemon.waitFor((l) => l.created === true, "registration")).nodeId as string;
    await nodeOnline(t, nodeId);
    await gateway.waitFor((l) => l.msg === "node-daemon connected", "the daemon's connection");
  }, 120_000);

  afterAll(async () => {
    await daemon?.kill("SIGKILL");
    await gateway?.kill("SIGTERM");
    await removeNodeLeftovers(engine, nodeId);
    await t?.close();
    await dir?.remove();
  });

  it("keeps an interactive session and an scp of 200 MiB going through a kill -9 and restart of the daemon, which adopts the rental", async () => {
    const info = await startRental("keep", ["0"]);
    const port = info.ssh?.port ?? 0;
    expect(port).toBeGreaterThanOrEqual(portBase);

    const big = join(dir.path, "big.bin");
    const sum = createHash("sha256");
    // Pseudo-random (incompressible), from a fixed seed: the checksum proves every byte arrived.
    let x = 0x9e3779b9;
    const chunks = function* (): Generator<Buffer> {
      for (let left = BIG_FILE_BYTES; left > 0; left -= 1024 ** 2) {
        const b = Buffer.allocUnsafe(1024 ** 2);
        for (let i = 0; i < b.length; i += 4) {
          x ^= x << 13;
          x ^= x >>> 17;
          x ^= x << 5;
          b.writeUInt32LE(x >>> 0, i);
        }
        sum.update(b);
        yield b;
      }
    };
    await pipeline(Readable.from(chunks()), createWriteStream(big));
    const localSum = sum.digest("hex");

    const session = spawnClient("ssh", ["-tt", "-i", key.privateKeyPath, "-p", String(port), "renter@127.0.0.1", "echo ready; read line; echo got-$line; exit 3"]);
    await printed(session, "ready");
    const scp = spawnClient("scp", ["-l", String(SCP_LIMIT_KBITS), "-i", key.privateKeyPath, "-P", String(port), big, "renter@127.0.0.1:/tmp/big.bin"]);
    // Bytes are arriving in the container: the copy is under way.
    await until(async () => {
      const r = await sshExec(key, port, "renter", "stat -c %s /tmp/big.bin 2>/dev/null || echo 0");
      return Number(r.stdout.trim()) > 8 * 1024 ** 2;
    }, "the copy is under way", 30_000, 200);

    await daemon.kill("SIGKILL");
    expect(scp.child.exitCode, "the scp was still copying when the daemon died").toBeNull();
    expect(session.child.exitCode).toBeNull();
    // While no daemon runs, the gateway still lets renters in.
    const meanwhile = await sshExec(key, port, "renter", "echo still-here");
    expect(meanwhile.stdout, meanwhile.stderr).toBe("still-here\n");

    launchDaemon();
    const adopted = await daemon.waitFor((l) => l.msg === "adopted a running rental" && l.rentalId === "keep", "the adoption", 30_000);
    expect(adopted.port).toBe(port);
    const hb = await heartbeat((h) => h.rentals.some((r) => r.rentalId === "keep" && r.adopted && r.state === RentalState.RENTAL_STATE_RUNNING), "the rental adopted and running");
    expect(hb.rentals.find((r) => r.rentalId === "keep")?.ssh?.port).toBe(port);

    session.child.stdin?.write("hello\n");
    await printed(session, "got-hello");
    expect(await session.ended, session.stderr()).toBe(3);

    expect(await scp.ended, scp.stderr()).toBe(0);
    const inside = await sshExec(key, port, "renter", "sha256sum /tmp/big.bin");
    expect(inside.stdout.split(/\s+/)[0], inside.stderr).toBe(localSum);
  }, 120_000);

  it("after the restart the daemon still decides: a rental gone while it was down loses its listener, a stopped one too", async () => {
    const gone = await startRental("gone", ["1"]);
    const gonePort = gone.ssh?.port ?? 0;
    expect((await sshExec(key, gonePort, "renter", "echo up")).stdout).toBe("up\n");

    await daemon.kill("SIGKILL");
    // Removed behind the daemon's back: after its restart it no longer has this rental.
    await engine.remove(gone.containerId, { force: true });
    expect(await accepts(gonePort), "the gateway keeps the listener while no daemon says otherwise").toBe(true);
    const closed = gateway.waitForNext((l) => Array.isArray(l.closed) && (l.closed as string[]).includes("gone"), "the gateway closing the gone rental's listener", 30_000);
    launchDaemon();
    await closed;
    expect(await accepts(gonePort)).toBe(false);

    const keepPort = (await heartbeat((h) => h.rentals.some((r) => r.rentalId === "keep" && r.ssh), "the kept rental")).rentals.find((r) => r.rentalId === "keep")?.ssh?.port ?? 0;
    expect((await sshExec(key, keepPort, "renter", "echo kept")).stdout).toBe("kept\n");
    const stopped = await command({ $case: "stopRental", value: { rentalId: "keep", timeoutSeconds: 0 } });
    expect(stopped.outcome?.$case).toBe("rental");
    expect(await accepts(keepPort)).toBe(false);
    const refused = await runClient("ssh", ["-i", key.privateKeyPath, "-p", String(keepPort), "renter@127.0.0.1", "true"]);
    expect(refused.code).toBe(255);
  }, 90_000);

  it("a gateway that restarts gets its rentals' access back from the running daemon; while it is away new rentals are refused, saying why", async () => {
    const back = await startRental("back", ["0"]);
    const port = back.ssh?.port ?? 0;
    const lost = daemon.waitForNext((l) => l.msg === "node-ssh-gateway is not reachable; trying again", "the daemon noticing the gateway is gone");
    await gateway.kill("SIGKILL");
    await lost;
    expect(await daemonStatus(stateDir)).toMatch(/node-ssh-gateway does not answer on .*ssh-gateway\.sock/);

    const refused = await command({
      $case: "startRental",
      value: { rentalId: "refused", image: BUSYBOX, gpus: { count: 0, ids: ["1"], model: "" }, cpuMillis: 0, memoryBytes: 256 * 1024 ** 2, shmBytes: 0, pidsLimit: 0, env: [], command: [], sshPublicKeys: [key.publicKey], sshPasswordHash: "", maxDurationSeconds: 0, runAsRoot: false },
    });
    const failure = refused.outcome?.$case === "error" ? refused.outcome.value : undefined;
    expect(failure?.code, JSON.stringify(refused.outcome)).toBe("gateway_unavailable");
    expect(failure?.message).toMatch(/node-ssh-gateway does not answer .*systemctl start node-ssh-gateway/);

    const reconnected = daemon.waitForNext((l) => l.msg === "connected to node-ssh-gateway", "the daemon reconnecting", 30_000);
    gateway = await startGateway(stateDir);
    await reconnected;
    const ran = await sshExec(key, port, "renter", "echo back");
    expect(ran.stdout, ran.stderr).toBe("back\n");
    expect(await daemonStatus(stateDir)).not.toMatch(/node-ssh-gateway does not answer/);
  }, 90_000);
});
