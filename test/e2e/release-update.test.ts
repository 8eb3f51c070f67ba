// Upgrades from signed releases, on real processes: a hub process serving what the real
// `rental-hub release add` published, the real `node-daemon update` run from the install root's
// `current` version, and real daemons started from `current` the way systemd would. The test plays
// systemd's part: the updater's -restart-command asks it (a line in a file) to stop the daemon and
// start whatever `current` is then.
//
// The archives are built here with tar(1) in npm pack's layout (package/...): the "good" new
// version is this checkout's built dist/ under a newer version number (its package.json decides
// the version the daemon reports), the broken one a script that never reaches the hub. Packing the
// whole project with npm pack would build it again and take far longer for the same bytes.
import { execFile } from "node:child_process";
import { mkdir, readdir, readFile, readlink, realpath, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DIST, HUB_SCRIPT, Program } from "../support/program.js";
import { packageArchive } from "../support/releases.js";
import { daemonArgs, getJson, type HubProcess, startHub, tempDir, writeKeyFile } from "../support/stack.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function runNode(script: string, args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args], { env: { PATH: "/usr/bin:/bin", HOME: process.env.HOME }, timeout: 90_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

interface NodeView {
  id: string;
  connected: boolean;
  daemonVersion: string | null;
  daemonBehind: string | null;
}

describe("node-daemon update from signed releases", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let hub: HubProcess;
  let hubData: string;
  let root: string;
  let releaseKey: string;
  let releasePub: string;
  let otherKey: string;
  let restartsFile: string;
  let deps: Record<string, string>;
  let daemon: Program | undefined;
  let args: string[];
  let watching = true;
  let watcher: Promise<void>;
  let restarts = 0;

  const current = () => readlink(join(root, "current"));
  const layout = async () => ({ current: await current(), versions: (await readdir(join(root, "versions"))).sort(), updates: await readdir(join(root, "updates")) });
  const env = { NODE_DAEMON_NVML_LIBRARY: "/nonexistent/libnvidia-ml.so.1", NODE_DAEMON_METRICS_LISTEN: "", NODE_DAEMON_LOG_LEVEL: "debug", PATH: "/usr/bin:/bin" };
  /** What systemd's ExecStart does: run current's bin. */
  const startFromCurrent = (): Program => (daemon = new Program("node-daemon", join(root, "current", "dist", "cmd", "node-daemon", "main.js"), args, env));

  const rentalHub = (a: string[]) => runNode(HUB_SCRIPT, a);
  const publish = (archive: string, key: string, recommend = false) => rentalHub(["release", "add", archive, "--key-file", key, "-data-dir", hubData, ...(recommend ? ["--recommend"] : [])]);
  /** The installed version's own `node-daemon update`, as root would run it. */
  const update = (extra: string[] = [], confirm = "30s", from = "current") =>
    runNode(join(root, from, "dist", "cmd", "node-daemon", "main.js"), [
      "update",
      ...extra,
      "-hub-http", hub.httpUrl,
      "-hub-ca-fingerprint", hub.caFingerprint,
      "-install-root", root,
      "-release-public-key-file", releasePub,
      "-restart-command", `echo restart >> ${restartsFile}`,
      "-update-confirm-timeout", confirm,
    ]);
  const nodes = () => getJson<{ nodes: NodeView[] }>(`${hub.httpUrl}/v1/nodes`).then((r) => r.nodes);

  beforeAll(async () => {
    dir = await tempDir("release-update");
    hubData = join(dir.path, "hub");
    await mkdir(hubData);
    expect((await rentalHub(["release", "keygen", "--out", join(dir.path, "key")])).code).toBe(0);
    expect((await rentalHub(["release", "keygen", "--out", join(dir.path, "other-key")])).code).toBe(0);
    releaseKey = join(dir.path, "key", "release.key");
    releasePub = join(dir.path, "key", "release.pub");
    otherKey = join(dir.path, "other-key", "release.key");
    hub = await startHub(hubData);

    // The install root as systemd/install.sh lays it out, holding 0.1.0: this checkout's build and its node_modules.
    root = join(dir.path, "opt");
    deps = (JSON.parse(await readFile(join(REPO, "package.json"), "utf8")) as { dependencies: Record<string, string> }).dependencies;
    const v1 = join(root, "versions", "0.1.0");
    await mkdir(v1, { recursive: true });
    await mkdir(join(root, "updates"));
    await new Promise<void>((resolve, reject) => execFile("cp", ["-a", DIST, join(v1, "dist")], (err) => (err ? reject(err) : resolve())));
    await writeFile(join(v1, "package.json"), JSON.stringify({ name: "gpu-node-daemon", version: "0.1.0", type: "module", dependencies: deps }));
    await symlink(await realpath(join(REPO, "node_modules")), join(v1, "node_modules"));
    await symlink(join("versions", "0.1.0"), join(root, "current"));

    restartsFile = join(dir.path, "restarts");
    await writeFile(restartsFile, "");
    const keyFile = await writeKeyFile(dir.path, Wallet.createRandom());
    args = daemonArgs(hub, keyFile, join(dir.path, "certs"), ["-install-root", root, "-enable-mining=false", "-rental-isolation=false"]);
    // systemd's part: each line the restart command writes is one restart of the unit.
    watcher = (async () => {
      while (watching) {
        const asked = (await readFile(restartsFile, "utf8")).split("\n").filter(Boolean).length;
        if (asked > restarts) {
          await daemon?.kill();
          startFromCurrent();
          // Counted once the new daemon runs: a test that sees the count may wait on `daemon` at once.
          restarts++;
        } else await new Promise((r) => setTimeout(r, 100));
      }
    })();
    startFromCurrent();
    await daemon?.waitFor((l) => l.msg === "connected to the hub over mTLS", "the 0.1.0 daemon reaching the hub", 30_000);
  });

  afterAll(async () => {
    watching = false;
    await watcher;
    await daemon?.kill();
    await hub?.program.kill();
    await dir?.remove();
  });

  it("refuses a release signed by another key, a tampered archive and a downgrade, and changes nothing", async () => {
    const before = await layout();
    expect(before).toEqual({ current: "versions/0.1.0", versions: ["0.1.0"], updates: [] });

    expect((await publish(await packageArchive(dir.path, "0.5.0"), otherKey, true)).code).toBe(0);
    const wrongKey = await update();
    expect(wrongKey.code, wrongKey.stdout).toBe(1);
    expect(wrongKey.stderr).toMatch(/refusing release 0\.5\.0: it is signed by release key ed25519:[0-9a-f]{16}, and this node trusts only ed25519:[0-9a-f]{16}/);

    // Published with the right key, then its stored archive swapped for other bytes on the hub.
    expect((await publish(await packageArchive(dir.path, "0.6.0"), releaseKey)).code).toBe(0);
    const stored = join(hubData, "releases", "0.6.0", "gpu-node-daemon-0.6.0.tgz");
    await writeFile(stored, await readFile(await packageArchive(dir.path, "0.6.0", { "dist/cmd/node-daemon/main.js": "process.exit(1)\n" })));
    const tampered = await update(["--release", "0.6.0"]);
    expect(tampered.code, `${tampered.stdout}\n${tampered.stderr}`).toBe(1);
    expect(tampered.stderr).toMatch(/refusing release 0\.6\.0: the archive downloaded is not the one that was signed/);

    expect((await publish(await packageArchive(dir.path, "0.0.9"), releaseKey)).code).toBe(0);
    const downgrade = await update(["--release", "0.0.9"]);
    expect(downgrade.code, downgrade.stdout).toBe(1);
    expect(downgrade.stderr).toMatch(/refusing release 0\.0\.9: it is older than the installed 0\.1\.0 \(a downgrade is never installed; nothing was changed\)/);

    expect(await layout()).toEqual(before);
    expect(restarts).toBe(0);
  });

  it("installs the recommended release: beside the old one, switches current, restarts, and keeps it once the new daemon reaches the hub", async () => {
    const archive = await packageArchive(dir.path, "0.2.0", {}, { dependencies: deps }, { dist: DIST });
    const published = await publish(archive, releaseKey, true);
    expect(published.stdout).toMatch(/published gpu-node-daemon 0\.2\.0 .* signed by ed25519:[0-9a-f]{16}; 0\.2\.0 is now the recommended version/);
    await expect.poll(async () => (await nodes())[0]?.daemonBehind).toBe("0.2.0");
    expect((await nodes())[0]?.daemonVersion).toBe("0.1.0");

    const check = await update(["--check"]);
    expect(check.stdout).toMatch(/installed 0\.1\.0; the hub recommends 0\.2\.0: node-daemon update installs it/);

    const r = await update();
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/node-daemon 0\.2\.0 reached the hub/);
    expect(r.stdout).toMatch(/updated 0\.1\.0 -> 0\.2\.0/);
    expect(await layout()).toEqual({ current: "versions/0.2.0", versions: ["0.1.0", "0.2.0"], updates: [] });
    expect(restarts).toBe(1);
    await daemon?.waitFor((l) => l.event === "update-confirmed", "the update confirmed");
    await expect.poll(async () => (await nodes())[0]).toMatchObject({ connected: true, daemonVersion: "0.2.0", daemonBehind: null });
  });

  it("puts the previous version back when the new one does not reach the hub in time", async () => {
    const broken = await packageArchive(dir.path, "0.3.0", { "dist/cmd/node-daemon/main.js": "// never reaches the hub\nsetInterval(() => {}, 1000);\n" });
    expect((await publish(broken, releaseKey, true)).code).toBe(0);
    const r = await update([], "4s");
    expect(r.code, r.stdout).toBe(1);
    expect(r.stderr).toMatch(/node-daemon 0\.3\.0 did not reach the hub within 4 s: switched back to 0\.2\.0 and restarted it/);
    expect(await layout()).toEqual({ current: "versions/0.2.0", versions: ["0.1.0", "0.2.0", "0.3.0"], updates: [] });
    await expect.poll(() => restarts).toBe(3);
    await daemon?.waitFor((l) => l.msg === "connected to the hub over mTLS", "the 0.2.0 daemon back on the hub", 30_000);
    await expect.poll(async () => (await nodes())[0]).toMatchObject({ connected: true, daemonVersion: "0.2.0", daemonBehind: "0.3.0" });
  });

  it("refuses to start while another update waits, and rolls back one whose watcher died at the next run", async () => {
    // As an updater leaves it when it is killed after the switch: current on the new version, pending.json still there.
    await rm(join(root, "current"));
    await symlink(join("versions", "0.3.0"), join(root, "current"));
    const pending = (deadline: number) => writeFile(join(root, "updates", "pending.json"), JSON.stringify({ previous: "0.2.0", next: "0.3.0", deadline: new Date(deadline).toISOString() }));
    await pending(Date.now() + 60_000);
    // current's own update command is the broken one: the provider runs the previous version's.
    const previous = join("versions", "0.2.0");
    const busy = await update([], "30s", previous);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/an update to 0\.3\.0 is in progress/);

    await pending(Date.now() - 1_000);
    expect((await rentalHub(["release", "recommend", "0.2.0", "-data-dir", hubData])).code).toBe(0);
    const r = await update([], "30s", previous);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/the update to 0\.3\.0 never reached the hub: switching back to 0\.2\.0/);
    expect(r.stdout).toMatch(/installed 0\.2\.0; the hub recommends 0\.2\.0: nothing to do/);
    expect(await layout()).toEqual({ current: "versions/0.2.0", versions: ["0.1.0", "0.2.0", "0.3.0"], updates: [] });
    await expect.poll(() => restarts).toBe(4);
  });
});
