import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultDaemonOptions } from "../../internal/daemon/options.js";
import { packageArchive } from "../support/releases.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const SCRIPT = join(REPO, "systemd", "install.sh");

interface Result {
  code: number | null;
  out: string; // stdout and stderr together: the key must be in neither
  stderr: string;
}

/** Runs install.sh with the given stdin (none: /dev/null, as under CI). */
function install(args: string[], opts: { stdin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [SCRIPT, ...args], {
      env: { ...process.env, ...opts.env },
      stdio: [opts.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let out = "";
    let stderr = "";
    child.stdout?.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr?.on("data", (b: Buffer) => {
      out += b.toString();
      stderr += b.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out, stderr }));
    if (opts.stdin !== undefined) child.stdin?.end(opts.stdin);
  });
}

/** A staging root with just enough of /etc for useradd --prefix: root, and the docker group Docker's package makes. */
async function stagingRoot(parent: string, name: string, withDocker = true): Promise<string> {
  const root = join(parent, name);
  await mkdir(join(root, "etc"), { recursive: true });
  await writeFile(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n");
  await writeFile(join(root, "etc/group"), `root:x:0:\n${withDocker ? "docker:x:999:\n" : ""}`);
  await writeFile(join(root, "etc/shadow"), "root:*:19000:0:99999:7:::\n", { mode: 0o640 });
  await writeFile(join(root, "etc/gshadow"), `root:*::\n${withDocker ? "docker:!::\n" : ""}`, { mode: 0o640 });
  return root;
}

const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o7777;
const newKey = (): string => `0x${randomBytes(32).toString("hex")}`;

/** The key, or any 16-hex-digit piece of it, anywhere in the output. */
function leaks(out: string, key: string): boolean {
  const hex = key.replace(/^0x/, "").toLowerCase();
  const text = out.toLowerCase();
  for (let i = 0; i + 16 <= hex.length; i += 8) if (text.includes(hex.slice(i, i + 16))) return true;
  return false;
}

function passwdLine(passwd: string, user: string): string[] | undefined {
  return passwd.split("\n").find((l) => l.startsWith(`${user}:`))?.split(":");
}

describe("systemd/install.sh against a staging root", () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "install-sh-"));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("installs the daemon: user in docker, /etc/node-daemon 0750, key 0600 from stdin, env file, unit; never prints the key", async () => {
    const root = await stagingRoot(dir, "daemon");
    const key = newKey();
    const r = await install(["--root", root], { stdin: `${key}\n` });
    expect(r.code, r.out).toBe(0);
    expect(leaks(r.out, key), "the key appears in the output").toBe(false);

    const etc = join(root, "etc/node-daemon");
    expect(await mode(etc)).toBe(0o750);
    expect(await mode(join(etc, "wallet.key"))).toBe(0o600);
    expect((await stat(join(etc, "wallet.key"))).uid).toBe(0);
    expect((await readFile(join(etc, "wallet.key"), "utf8")).trim()).toBe(key);
    expect(await mode(join(etc, "node-daemon.env"))).toBe(0o600);
    expect(await readFile(join(etc, "node-daemon.env"), "utf8")).toBe(await readFile(join(REPO, "systemd/node-daemon.env.example"), "utf8"));
    for (const name of ["node-daemon.service", "node-ssh-gateway.service"]) {
      const unit = join(root, "etc/systemd/system", name);
      expect(await readFile(unit, "utf8"), name).toBe(await readFile(join(REPO, "systemd", name), "utf8"));
      expect(await mode(unit), name).toBe(0o644);
    }

    const user = passwdLine(await readFile(join(root, "etc/passwd"), "utf8"), "node-daemon");
    expect(user?.[6]).toBe("/usr/sbin/nologin");
    expect(Number(user?.[2])).toBeLessThan(1000); // a system user
    const docker = (await readFile(join(root, "etc/group"), "utf8")).split("\n").find((l) => l.startsWith("docker:"));
    expect(docker?.split(":")[3]?.split(",")).toContain("node-daemon");
    // The unit makes the default mining folder writable; the script creates it, owned by the daemon.
    const mining = await stat(join(root, defaultDaemonOptions.miningDataDir));
    expect(mining.isDirectory()).toBe(true);
    expect(mining.uid).toBe(Number(user?.[2]));

    expect(r.out).toMatch(/systemctl left alone/);
    expect(r.out).toMatch(/hub-ca-fingerprint/);
    expect(r.out).toMatch(/systemctl enable --now node-ssh-gateway node-daemon/);
  });

  it("is idempotent: a second run keeps the key, the edited env file and the users as they are", async () => {
    const root = await stagingRoot(dir, "again");
    const key = newKey();
    expect((await install(["--root", root], { stdin: key })).code).toBe(0);
    const envFile = join(root, "etc/node-daemon/node-daemon.env");
    await writeFile(envFile, "NODE_DAEMON_ARGS=-hub mine:8443\n");
    const passwd = await readFile(join(root, "etc/passwd"), "utf8");
    const group = await readFile(join(root, "etc/group"), "utf8");

    const r = await install(["--root", root]); // no key: stdin is /dev/null
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/keeping the installed \/etc\/node-daemon\/wallet.key/);
    expect((await readFile(join(root, "etc/node-daemon/wallet.key"), "utf8")).trim()).toBe(key);
    expect(await readFile(envFile, "utf8")).toBe("NODE_DAEMON_ARGS=-hub mine:8443\n");
    expect(await readFile(join(root, "etc/passwd"), "utf8")).toBe(passwd);
    expect(await readFile(join(root, "etc/group"), "utf8")).toBe(group);
    expect(r.out).toMatch(/node-daemon.service is up to date/);

    // The same key again changes nothing either; DESTDIR works as --root does.
    const same = await install([], { stdin: key, env: { DESTDIR: root } });
    expect(same.code, same.out).toBe(0);
    expect(same.out).toMatch(/already holds this key/);
    expect(leaks(same.out, key)).toBe(false);
  });

  it("takes the key from a 0600 file, refuses one readable by others, and never echoes either", async () => {
    const root = await stagingRoot(dir, "file");
    const key = newKey();
    const good = join(dir, "good.key");
    await writeFile(good, `${key}\n`, { mode: 0o600 });
    await chmod(good, 0o600);
    const ok = await install(["--root", root, "--key-file", good]);
    expect(ok.code, ok.out).toBe(0);
    expect((await readFile(join(root, "etc/node-daemon/wallet.key"), "utf8")).trim()).toBe(key);

    const other = newKey();
    const open = join(dir, "open.key");
    await writeFile(open, other);
    await chmod(open, 0o644);
    const refused = await install(["--root", root, "--key-file", open]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/refusing wallet key file .*open\.key: readable by group or others \(mode 0644\)/);
    expect(refused.stderr).toMatch(/chmod 600/);
    expect(leaks(refused.out, other)).toBe(false);
    // The installed key is untouched.
    expect((await readFile(join(root, "etc/node-daemon/wallet.key"), "utf8")).trim()).toBe(key);
  });

  it("refuses input that is not a key without showing it, and a first install without any key", async () => {
    const root = await stagingRoot(dir, "bad");
    const secretish = "correct horse battery staple 0123456789abcdef0123456789abcdef";
    const bad = await install(["--root", root], { stdin: secretish });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/not a private key: expected 64 hex digits/);
    expect(bad.out).not.toContain("horse");
    expect(bad.out).not.toContain("0123456789abcdef");

    const none = await install(["--root", await stagingRoot(dir, "none")]);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/no wallet key: pipe it in .* or pass --key-file PATH/);
  });

  it("--release lays the daemon out for signed updates: versions side by side, one current link, /usr/bin/node-daemon -> current's bin", async () => {
    const root = await stagingRoot(dir, "release");
    // Archives that bundle node_modules: install.sh runs npm install only for those that do not.
    const files = (v: string) => ({
      "dist/cmd/node-daemon/main.js": `#!/usr/bin/env node\nconsole.log("node-daemon ${v}");\n`,
      "dist/cmd/node-ssh-gateway/main.js": `#!/usr/bin/env node\nconsole.log("node-ssh-gateway ${v}");\n`,
      "node_modules/.package-lock.json": "{}",
    });
    const first = await install(["--root", root, "--release", await packageArchive(dir, "0.1.0", files("0.1.0"))], { stdin: newKey() });
    expect(first.code, first.out).toBe(0);
    const opt = join(root, "opt/node-daemon");
    expect(await readlink(join(opt, "current"))).toBe("versions/0.1.0");
    // The gateway's bin too: an upgrade moves current, and the gateway's next (re)start runs the new version.
    for (const bin of ["node-daemon", "node-ssh-gateway"]) {
      expect(await readlink(join(root, "usr/bin", bin))).toBe(`/opt/node-daemon/current/dist/cmd/${bin}/main.js`);
      expect(await mode(join(opt, `versions/0.1.0/dist/cmd/${bin}/main.js`))).toBe(0o755);
    }
    expect(await mode(join(opt, "versions/0.1.0/package.json"))).toBe(0o644);
    expect(await mode(join(opt, "versions"))).toBe(0o755);
    // updates/ is the daemon's (it confirms an update there); the unit lets it write there and nowhere else under /opt.
    expect((await stat(join(opt, "updates"))).uid).toBe(Number(passwdLine(await readFile(join(root, "etc/passwd"), "utf8"), "node-daemon")?.[2]));
    for (const unit of ["node-daemon-update.service", "node-daemon-update.timer"]) {
      expect(await readFile(join(root, "etc/systemd/system", unit), "utf8")).toBe(await readFile(join(REPO, "systemd", unit), "utf8"));
    }
    expect(first.out).toMatch(/systemctl enable --now node-daemon-update.timer/);
    expect(first.out).not.toMatch(/put the binary at/);

    // The same archive again changes nothing; a newer one goes beside it and becomes current.
    const again = await install(["--root", root, "--release", await packageArchive(dir, "0.1.0", files("0.1.0"))]);
    expect(again.code, again.out).toBe(0);
    expect(again.out).toMatch(/versions\/0\.1\.0 exists: left as it is/);
    expect(again.out).toMatch(/current is 0\.1\.0/);
    const next = await install(["--root", root, "--release", await packageArchive(dir, "0.2.0", files("0.2.0"))]);
    expect(next.code, next.out).toBe(0);
    expect(await readlink(join(opt, "current"))).toBe("versions/0.2.0");
    expect((await lstat(join(opt, "versions/0.1.0"))).isDirectory()).toBe(true);

    const notOurs = await install(["--root", root, "--release", await packageArchive(dir, "9.0.0", {}, { name: "left-pad" })]);
    expect(notOurs.code).not.toBe(0);
    expect(notOurs.stderr).toMatch(/is not an npm pack archive of gpu-node-daemon/);
    expect(await readlink(join(opt, "current"))).toBe("versions/0.2.0");
  });

  it("says what is missing when there is no docker group", async () => {
    const root = await stagingRoot(dir, "nodocker", false);
    const r = await install(["--root", root], { stdin: newKey() });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no docker group .*install Docker first/);
  });

  it("--hub installs the hub: its user (not in docker), /etc/rental-hub 0750, env file and database-url 0600, unit", async () => {
    const root = await stagingRoot(dir, "hub");
    const r = await install(["--hub", "--root", root]);
    expect(r.code, r.out).toBe(0);
    expect(await mode(join(root, "etc/rental-hub"))).toBe(0o750);
    expect(await mode(join(root, "etc/rental-hub/rental-hub.env"))).toBe(0o600);
    // The unit's LoadCredential= needs the file; empty means SQLite.
    const urlFile = join(root, "etc/rental-hub/database-url");
    expect(await mode(urlFile)).toBe(0o600);
    expect(await readFile(urlFile, "utf8")).toBe("");
    expect(await readFile(join(root, "etc/systemd/system/rental-hub.service"), "utf8")).toBe(await readFile(join(REPO, "systemd/rental-hub.service"), "utf8"));
    expect(passwdLine(await readFile(join(root, "etc/passwd"), "utf8"), "rental-hub")?.[6]).toBe("/usr/sbin/nologin");
    const docker = (await readFile(join(root, "etc/group"), "utf8")).split("\n").find((l) => l.startsWith("docker:"));
    expect(docker?.split(":")[3] ?? "").not.toContain("rental-hub");
    expect(r.out).toMatch(/systemctl enable --now rental-hub/);

    // A URL the operator put in is kept, and not shown.
    const url = "postgres://rental_hub:pw-5f3a9c@127.0.0.1:5432/rental_hub\n";
    await writeFile(urlFile, url);
    const again = await install(["--hub", "--root", root]);
    expect(again.code, again.out).toBe(0);
    expect(again.out).toMatch(/user rental-hub exists/);
    expect(await readFile(urlFile, "utf8")).toBe(url);
    expect(await mode(urlFile)).toBe(0o600);
    expect(again.out).not.toContain("pw-5f3a9c");

    const withKey = await install(["--hub", "--root", root, "--key-file", "/dev/null"]);
    expect(withKey.code).not.toBe(0);
    expect(withKey.stderr).toMatch(/--hub takes no wallet key/);
  });
});
