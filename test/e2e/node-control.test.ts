import { execFile } from "node:child_process";
import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerodeEngine } from "../../internal/container/dockerode-engine.js";
import { LABELS } from "../../internal/container/labels.js";
import { requestJson } from "../../internal/httpclient/json-client.js";
import type { RentalView } from "../../internal/hubapi/rentals.js";
import type { HubRental } from "../../internal/hub/store/rental-store.js";
import { RentalState } from "../../internal/proto/gen/gpunode/v1/gpunode.js";
import { buildFakeNvml } from "../fixtures/nvml/build-fake-nvml.js";
import { fakeNvmlConfig, writeFakeNvmlConfig } from "../fixtures/nvml/fake-nvml-config.js";
import { type SshKey, sshKeypair } from "../support/openssh.js";
import { DAEMON_SCRIPT, type Program } from "../support/program.js";
import { signIn } from "../support/renter.js";
import { startDaemon, tempDir, writeKeyFile } from "../support/stack.js";
import { nodeOnline, startTestHub, type TestHub } from "../support/test-hub.js";
import { removeNodeLeftovers } from "../support/node-leftovers.js";

const BUSYBOX = "gpunode-test/busybox:latest";

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** `node-daemon <args>` as an operator types it; the environment is the test's own, minus anything of ours. */
function nodeDaemon(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, [DAEMON_SCRIPT, ...args], { env: { PATH: "/usr/bin:/bin", HOME: process.env.HOME, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface NodeView {
  id: string;
  status: string;
  draining: boolean;
}

/**
 * A real daemon process (settings from a TOML file, the environment and flags) with two stand-in
 * GPUs, the real Docker engine, and a real hub in this process.
 */
describe("node-daemon status, drain and undrain over the control socket", () => {
  const engine = new DockerodeEngine();
  let t: TestHub;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let daemon: Program;
  let args: string[];
  let env: NodeJS.ProcessEnv;
  let stateDir: string;
  let configFile: string;
  let nodeId: string;
  let key: SshKey;
  let renterToken: string;

  const call = <T>(method: string, path: string, body?: unknown) => requestJson<T>(t.http, method, path, { bearer: renterToken, body });
  const nodeView = async (): Promise<NodeView> => (await requestJson<{ nodes: NodeView[] }>(t.http, "GET", "/v1/nodes")).nodes.find((n) => n.id === nodeId) as NodeView;
  const hubSays = (status: string) => until(`hub status "${status}"`, async () => ((await nodeView()).status === status ? true : undefined));
  const rentalWhere = (id: string, match: (r: HubRental) => boolean) => until(`rental ${id} as expected`, async () => {
    const r = await t.hub.store.rentals.get(id);
    return r && match(r) ? r : undefined;
  }, 30_000);
  const rent = (extra: Record<string, unknown>) => call<RentalView>("POST", "/v1/rentals", { image: BUSYBOX, sshPublicKey: key.publicKey, memoryBytes: 128 * 1024 ** 2, ...extra });

  beforeAll(async () => {
    dir = await tempDir("node-control");
    t = await startTestHub({ heartbeatIntervalMs: 500 });
    const nvml = join(dir.path, "nvml.json");
    await writeFakeNvmlConfig(nvml, fakeNvmlConfig(2));
    key = await sshKeypair(dir.path, "renter");
    stateDir = join(dir.path, "state");
    const base = 44_000 + Math.floor(Math.random() * 50) * 20;
    // Where the daemon lives and listens: from the config file, as an operator would keep it.
    configFile = join(dir.path, "node-daemon.toml");
    await writeFile(
      configFile,
      [
        `state-dir = "${stateDir}"`,
        `cert-dir = "${join(dir.path, "certs")}"`,
        "api-port = 0",
        'api-listen-host = "127.0.0.1"',
        `ssh-ports = "${base}-${base + 19}"`,
        'ssh-listen-host = "127.0.0.1"',
        "enable-mining = false",
        'metrics-listen = ""',
        'hub = "wrong.invalid:1"', // the environment overrides it
      ].join("\n"),
    );
    env = { FAKE_NVML_CONFIG: nvml, NODE_DAEMON_HUB: t.grpcTarget, NODE_DAEMON_HUB_HTTP: t.http.baseUrl, NODE_DAEMON_NVML_LIBRARY: await buildFakeNvml() };
    args = ["-config", configFile, "-hub-ca-fingerprint", t.hub.info.caFingerprint, "-host", "127.0.0.1", "-private-key-file", await writeKeyFile(dir.path, Wallet.createRandom())];
    daemon = startDaemon(args, env);
    nodeId = (await daemon.waitFor((l) => l.created === true, "registration")).nodeId as string;
    await nodeOnline(t, nodeId);
    await daemon.waitFor((l) => l.seq === 2, "a heartbeat with the GPUs");
    renterToken = await signIn(t.http, Wallet.createRandom());
  });

  afterAll(async () => {
    await daemon?.kill("SIGKILL");
    await removeNodeLeftovers(engine, nodeId);
    await t?.close();
    await dir?.remove();
  });

  it("serves an owner-only unix socket in the state dir", async () => {
    const st = await stat(join(stateDir, "control.sock"));
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.uid).toBe(process.getuid?.());
  });

  it("prints the hub connection, node id, certificate, GPUs with their metrics, rentals and miners", async () => {
    const text = await nodeDaemon(["status", "-config", configFile]);
    expect(text).toMatchObject({ code: 0, stderr: "" });
    expect(text.stdout).toContain(`node         ${nodeId}`);
    expect(text.stdout).toMatch(new RegExp(`hub +${t.grpcTarget.replace(/\./g, "\\.")} connected; \\d+ heartbeats sent, last \\d+s ago; 0 reconnects`));
    expect(text.stdout).toMatch(/certificate +valid until \d{4}-\d\d-\d\dT.*Z \(in 6d 23h/);
    expect(text.stdout).toMatch(/draining +no/);
    expect(text.stdout).toMatch(/GPUs \(2\)\n +# +MODEL +STATE +UTIL +MEMORY +TEMP +POWER +UUID\n +0 +NVIDIA H100 80GB HBM3 +free +10% +0\.5\/79\.6 GiB +35C +70\/700 W +GPU-/);
    expect(text.stdout).toMatch(/\n +1 +NVIDIA H100 80GB HBM3 +free +11% /);
    expect(text.stdout).toContain("rentals (0)");
    expect(text.stdout).toContain("miners (0)");

    const json = await nodeDaemon(["status", "--json", "-state-dir", stateDir]);
    expect(json.code).toBe(0);
    const s = JSON.parse(json.stdout) as { nodeId: string; hubConnected: boolean; hubAddress: string; heartbeatsSent: number; certificateNotAfter: string; gpus: { index: number; uuid: string; utilizationGpuPercent: number; activity: string }[]; info: { draining?: boolean }; rentals?: unknown[] };
    expect(s).toMatchObject({ nodeId, hubConnected: true, hubAddress: t.grpcTarget });
    expect(s.heartbeatsSent).toBeGreaterThanOrEqual(2);
    expect(new Date(s.certificateNotAfter).getTime()).toBeGreaterThan(Date.now());
    expect(s.gpus.map((g) => [g.index, g.utilizationGpuPercent, g.activity])).toEqual([[0, 10, "GPU_ACTIVITY_FREE"], [1, 11, "GPU_ACTIVITY_FREE"]]);
    expect(s.info.draining).toBe(false);
    expect(s.rentals).toEqual([]);
  });

  it("says so when no daemon runs, or only a dead one's socket is left", async () => {
    const empty = join(dir.path, "nobody");
    const none = await nodeDaemon(["status", "-state-dir", empty]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`is node-daemon running? no socket at ${join(empty, "control.sock")}`);
    const drain = await nodeDaemon(["drain"], { NODE_DAEMON_STATE_DIR: empty });
    expect(drain.code).toBe(1);
    expect(drain.stderr).toContain("is node-daemon running?");
    // A bad setting is refused before anything is asked, naming it and where it came from.
    const bad = await nodeDaemon(["status", "-state-dir", empty], { NODE_DAEMON_API_PORT: "eighty" });
    expect(bad).toMatchObject({ code: 2, stderr: "node-daemon: environment variable NODE_DAEMON_API_PORT: expected a whole number from 0 to 65535\n" });
  });

  it("drains: new rentals are refused (node_draining) and the hub skips the node, running ones go on; SIGTERM leaves them running; draining survives a restart; undrain restores", async () => {
    const before = await rent({ nodeId, gpuIds: ["0"] });
    await rentalWhere(before.id, (r) => r.status === "running");

    const drained = await nodeDaemon(["drain", "-config", configFile]);
    expect(drained).toMatchObject({ code: 0, stdout: "draining: this node takes no new rentals; running rentals keep running; the hub has been told\n" });
    await hubSays("draining");
    expect(await nodeView()).toMatchObject({ status: "draining", draining: true });
    expect((await nodeDaemon(["drain", "-config", configFile])).stdout).toMatch(/^already draining/);

    // The hub's picker skips it, the hub refuses it by name, and the node itself refuses a start that reaches it.
    await expect(rent({ gpuCount: 1 })).rejects.toMatchObject({ status: 409, code: "no_capacity" });
    await expect(rent({ nodeId, gpuIds: ["1"] })).rejects.toMatchObject({ status: 409, code: "node_draining" });
    const direct = await t.hub.channel.sendCommand(
      nodeId,
      { $case: "startRental", value: { rentalId: "sneaked-in", image: BUSYBOX, gpus: { count: 1, ids: [], model: "" }, cpuMillis: 0, memoryBytes: 128 * 1024 ** 2, shmBytes: 0, pidsLimit: 0, env: [], command: [], sshPublicKeys: [key.publicKey], sshPasswordHash: "", maxDurationSeconds: 0, runAsRoot: false } },
      { timeoutMs: 30_000 },
    );
    expect(direct.outcome).toMatchObject({ $case: "error", value: { code: "node_draining", message: expect.stringContaining("takes no new rentals") } });
    // A repeated start of the rental it already runs is answered, not refused.
    const repeated = await t.hub.channel.sendCommand(
      nodeId,
      { $case: "startRental", value: { rentalId: before.id, image: BUSYBOX, gpus: { count: 0, ids: ["0"], model: "" }, cpuMillis: 0, memoryBytes: 128 * 1024 ** 2, shmBytes: 0, pidsLimit: 0, env: [], command: [], sshPublicKeys: [key.publicKey], sshPasswordHash: "", maxDurationSeconds: 0, runAsRoot: false } },
      { timeoutMs: 30_000 },
    );
    expect(repeated.outcome).toMatchObject({ $case: "rental", value: { rentalId: before.id, state: RentalState.RENTAL_STATE_RUNNING } });
    expect((await t.hub.store.rentals.get(before.id))?.status).toBe("running");
    const status = await nodeDaemon(["status", "-config", configFile]);
    expect(status.stdout).toMatch(/draining +yes/);
    expect(status.stdout).toMatch(new RegExp(`rentals \\(1\\)\\n.*\\n +${before.id} +running +0 +${BUSYBOX}`));

    // SIGTERM stops the daemon only: the rental's container keeps running.
    const container = (await engine.list({ labels: { [LABELS.nodeId]: nodeId } })).find((c) => c.running);
    expect(await daemon.kill("SIGTERM")).toMatchObject({ code: 0 });
    expect((await engine.inspect(container?.id ?? "")).running).toBe(true);
    await expect(stat(join(stateDir, "control.sock"))).rejects.toMatchObject({ code: "ENOENT" });

    daemon = startDaemon(args, env);
    await daemon.waitFor((l) => typeof l.msg === "string" && l.msg.startsWith("draining since"), "the remembered draining state");
    await daemon.waitFor((l) => l.msg === "connected to the hub over mTLS", "reconnection");
    await hubSays("draining");
    const after = JSON.parse((await nodeDaemon(["status", "--json", "-config", configFile])).stdout) as { info: { draining?: boolean }; rentals: { rentalId: string; adopted?: boolean }[] };
    expect(after.info.draining).toBe(true);
    expect(after.rentals).toEqual([expect.objectContaining({ rentalId: before.id, adopted: true })]);
    await expect(rent({ gpuCount: 1 })).rejects.toMatchObject({ status: 409, code: "no_capacity" });

    // Stop still works while draining.
    await rentalWhere(before.id, (r) => r.status === "running");
    expect((await call<RentalView>("POST", `/v1/rentals/${before.id}/stop`)).status).toBe("stopped");

    const undrained = await nodeDaemon(["undrain", "-state-dir", stateDir]);
    expect(undrained).toMatchObject({ code: 0, stdout: "not draining: this node takes new rentals; the hub has been told\n" });
    await hubSays("online");
    expect((await nodeView()).draining).toBe(false);
    const again = await rent({ gpuCount: 1 });
    expect(again.nodeId).toBe(nodeId);
    await rentalWhere(again.id, (r) => r.status === "running");
    await call("POST", `/v1/rentals/${again.id}/stop`);

    // Not draining survives a restart too: the flag file is gone.
    await expect(stat(join(stateDir, "draining"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("refuses to start a second daemon on the same state dir", async () => {
    const second = startDaemon([...args, "-api-port", "0"], env);
    const exit = await second.exited;
    expect(exit.code).toBe(1);
    expect(second.output).toContain("another node-daemon is running with this state dir");
  });
});
