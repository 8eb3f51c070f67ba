import { spawn } from "node:child_process";
import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { encryptKeystoreJson, Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerodeEngine } from "../../internal/container/dockerode-engine.js";
import { buildFakeNvml } from "../fixtures/nvml/build-fake-nvml.js";
import { fakeNvmlConfig, writeFakeNvmlConfig } from "../fixtures/nvml/fake-nvml-config.js";
import { requestJson } from "../../internal/httpclient/json-client.js";
import { type SshKey, sshKeypair } from "../support/openssh.js";
import { lockRegistry, REGISTRY, removeImage, requireRegistry } from "../support/registry.js";
import { removeNodeLeftovers } from "../support/node-leftovers.js";
import { signIn } from "../support/renter.js";
import { DIST, type Program } from "../support/program.js";
import { startDaemon, tempDir, writeKeyFile } from "../support/stack.js";
import { nodeOnline, rentalWhere, startTestHub, type TestHub } from "../support/test-hub.js";

const PRICE = "2500000000000"; // wei per second: 0.009 ETH per GPU-hour
const IMAGE = "gpunode-test/busybox:latest";
const BIG = `${REGISTRY}/gpunode-test/big:latest`;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The renter's CLI against a real hub and a real node process on the real engine, as a user runs it. */
describe("gpu-rent, the renter's CLI", () => {
  const engine = new DockerodeEngine();
  const provider = Wallet.createRandom();
  const renter = Wallet.createRandom();
  let t: TestHub;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let daemon: Program;
  let nodeId: string;
  let key: SshKey;
  let keyFile: string;
  let configDir: string;

  /** gpu-rent as a process, with its own config folder and HOME. */
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [`${DIST}cmd/gpu-rent/main.js`, ...args], { env: { PATH: process.env.PATH, HOME: dir.path, GPU_RENT_CONFIG_DIR: configDir, ...env }, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      child.on("error", reject);
      child.on("exit", (code) => resolve({ code, stdout, stderr }));
    });
  const json = async <T>(args: string[], env?: NodeJS.ProcessEnv): Promise<T> => {
    const r = await cli(["--json", ...args], env);
    expect(r.code, `${args.join(" ")}: ${r.stdout}${r.stderr}`).toBe(0);
    return JSON.parse(r.stdout) as T;
  };
  const login = () => json<{ address: string }>(["login", "--hub-http", t.http.baseUrl, "--hub-ca-fingerprint", t.hub.info.caFingerprint, "--key-file", keyFile]);

  beforeAll(async () => {
    dir = await tempDir("renter-cli");
    configDir = join(dir.path, "config");
    t = await startTestHub({ heartbeatIntervalMs: 500 });
    const nvml = join(dir.path, "nvml.json");
    await writeFakeNvmlConfig(nvml, fakeNvmlConfig(2));
    key = await sshKeypair(dir.path, "renter");
    keyFile = await writeKeyFile(dir.path, renter);
    const base = 44_000 + Math.floor(Math.random() * 50) * 20;
    daemon = startDaemon(
      [
        "-hub", t.grpcTarget, "-hub-http", t.http.baseUrl, "-hub-ca-fingerprint", t.hub.info.caFingerprint, "-host", "127.0.0.1",
        "-private-key-file", await writeKeyFile(dir.path, provider), "-cert-dir", join(dir.path, "certs"), "-state-dir", join(dir.path, "state"),
        "-api-port", "0", "-api-listen-host", "127.0.0.1", "-nvml-library", await buildFakeNvml(), "-enable-mining=false",
        "-price-per-sec", PRICE, "-ssh-ports", `${base}-${base + 19}`, "-ssh-listen-host", "127.0.0.1",
      ],
      { FAKE_NVML_CONFIG: nvml },
    );
    nodeId = (await daemon.waitFor((l) => l.created === true, "registration")).nodeId as string;
    await nodeOnline(t, nodeId);
    await daemon.waitFor((l) => l.seq === 2, "a heartbeat with the GPUs");
  });

  afterAll(async () => {
    await daemon?.kill("SIGKILL");
    await removeNodeLeftovers(engine, nodeId);
    await t?.close();
    await dir?.remove();
  });

  it("logs in with a key file and keeps the session owner-only; refuses a wrong CA pin and a key others can read", async () => {
    expect((await login()).address).toBe(renter.address);
    expect((await stat(join(configDir, "session.json"))).mode & 0o777).toBe(0o600);
    const wrongPin = await cli(["login", "--hub-http", t.http.baseUrl, "--hub-ca-fingerprint", `sha256:${"0".repeat(64)}`, "--key-file", keyFile]);
    expect(wrongPin).toMatchObject({ code: 1, stderr: expect.stringContaining("not the pinned") });
    const loose = await writeKeyFile(join(dir.path), Wallet.createRandom(), 0o644);
    expect(await cli(["login", "--hub-http", t.http.baseUrl, "--key-file", loose])).toMatchObject({ code: 1, stderr: expect.stringContaining("chmod 600") });
    // Neither failure touched the session.
    expect((await json<{ rentals: unknown[] }>(["ls"])).rentals).toEqual([]);
  });

  it("lists nodes with free GPUs, memory and the price per GPU-hour, and filters them", async () => {
    const { nodes } = await json<{ nodes: Array<{ id: string; model: string; gpusFree: number; gpusTotal: number; pricePerSecWei: string; pricePerGpuHourWei: string; memoryGiB: number }> }>(["nodes"]);
    expect(nodes).toEqual([expect.objectContaining({ id: nodeId, model: "NVIDIA H100 80GB HBM3", gpusFree: 2, gpusTotal: 2, pricePerSecWei: PRICE, pricePerGpuHourWei: (BigInt(PRICE) * 3600n).toString() })]);
    expect((await json<{ nodes: unknown[] }>(["nodes", "--model", "a100"])).nodes).toEqual([]);
    expect((await json<{ nodes: unknown[] }>(["nodes", "--min-memory", "200"])).nodes).toEqual([]);
    const table = await cli(["nodes"]);
    expect(table.stdout).toContain("0.009 ETH/GPU-h");
  });

  it("rents an interactive machine and runs ssh with the host key pinned: a command's output and exit code come back", async () => {
    const created = await json<{ id: string; status: string }>(["rent", "--no-wait", "--gpus", "1", "--model", "h100", "--image", IMAGE, "--ssh-key", `${key.privateKeyPath}.pub`, "--memory", "0.25"]);
    expect(created.status).toBe("starting");
    await rentalWhere(t, created.id, (r) => r.status === "running");
    const ssh = (remote: string[]) => cli(["ssh", created.id, "--", "-i", key.privateKeyPath, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", ...remote]);
    expect(await ssh(["echo", "in-rental"])).toMatchObject({ code: 0, stdout: "in-rental\n" });
    expect((await ssh(["sh", "-c", "'exit 7'"])).code).toBe(7);
    // A server presenting another key than the one the hub vouches for is refused: ssh checks strictly.
    const vouched = (await t.hub.store.rentals.get(created.id))!.ssh!;
    await t.hub.store.rentals.update(created.id, { ssh: { ...vouched, hostPublicKey: `ssh-ed25519 ${key.publicKey.split(" ")[1] ?? ""}` } });
    const refused = await ssh(["echo", "in-rental"]);
    expect(refused.code).toBe(255);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
    await t.hub.store.rentals.update(created.id, { ssh: vouched });
    const shown = await cli(["show", created.id]);
    expect(shown.stdout).toMatch(/ssh +gpu-rent ssh /);
    expect(shown.stdout).toMatch(/scp -P \d+ FILE renter@127\.0\.0\.1:/);
    expect((await json<{ status: string }>(["stop", created.id])).status).toBe("stopped");
  });

  it("follows a batch job to its end, then shows its logs and its exact cost", async () => {
    const done = await cli(["--json", "rent", "--wait", "--gpus", "0", "--image", IMAGE, "--env", "GREETING=hello", "--", "sh", "-c", "echo $GREETING from the job"]);
    expect(done.code, done.stdout + done.stderr).toBe(0);
    const job = JSON.parse(done.stdout) as { id: string; status: string; exitCode: number };
    expect(job).toMatchObject({ status: "exited", exitCode: 0 });
    expect((await json<{ text: string }>(["logs", job.id])).text).toContain("hello from the job");
    const cost = await json<{ secondsUsed: number; pricePerSecWei: string; costWei: string }>(["cost", job.id]);
    expect(cost.costWei).toBe((BigInt(cost.secondsUsed) * BigInt(PRICE)).toString());
    const failing = await cli(["--json", "rent", "--wait", "--gpus", "0", "--image", IMAGE, "--", "sh", "-c", "exit 3"]);
    expect(failing.code).toBe(1);
    expect(JSON.parse(failing.stdout)).toMatchObject({ status: "exited", exitCode: 3 });
  });

  it("follows a real image pull: the hub shows its bytes and layers while it runs, and the CLI waits to the end", async () => {
    await requireRegistry();
    const unlock = await lockRegistry();
    try {
      await removeImage(BIG);
      const token = await signIn(t.http, renter);
      const seenPull = new Promise<{ currentBytes: number; totalBytes: number; layersDone: number; layersTotal: number }>((resolve) => {
        const on = (r: { id: string; status: string }) => {
          const pull = t.hub.rentals.pullOf(r.id);
          if (r.status !== "starting" || !pull || pull.currentBytes === 0) return;
          t.hub.rentals.off("changed", on);
          void requestJson<{ pull: { currentBytes: number; totalBytes: number; layersDone: number; layersTotal: number } }>(t.http, "GET", `/v1/rentals/${r.id}`, { bearer: token }).then((v) => resolve(v.pull));
        };
        t.hub.rentals.on("changed", on);
      });
      const done = await cli(["--json", "rent", "--wait", "--gpus", "0", "--image", BIG, "--", "true"]);
      expect(done.code, done.stdout + done.stderr).toBe(0);
      expect(JSON.parse(done.stdout)).toMatchObject({ status: "exited", exitCode: 0, pull: null });
      const pull = await seenPull;
      expect(pull.totalBytes).toBeGreaterThan(100 * 1024 * 1024);
      expect(pull.currentBytes).toBeGreaterThan(0);
      expect(pull.layersTotal).toBeGreaterThanOrEqual(2);
    } finally {
      await removeImage(BIG);
      unlock();
    }
  });

  it("runs a job as 3 replicas over two nodes, each told its index, and gathers every exit code and output", async () => {
    const secondDir = join(dir.path, "second");
    const nvml = join(dir.path, "nvml.json");
    const base = 45_000 + Math.floor(Math.random() * 50) * 20;
    const second = startDaemon(
      [
        "-hub", t.grpcTarget, "-hub-http", t.http.baseUrl, "-hub-ca-fingerprint", t.hub.info.caFingerprint, "-host", "127.0.0.1",
        "-private-key-file", await writeKeyFile(dir.path, Wallet.createRandom()), "-cert-dir", join(secondDir, "certs"), "-state-dir", join(secondDir, "state"),
        "-api-port", "0", "-api-listen-host", "127.0.0.1", "-nvml-library", await buildFakeNvml(), "-enable-mining=false",
        "-price-per-sec", PRICE, "-ssh-ports", `${base}-${base + 19}`, "-ssh-listen-host", "127.0.0.1",
      ],
      { FAKE_NVML_CONFIG: nvml },
    );
    const secondId = (await second.waitFor((l) => l.created === true, "registration")).nodeId as string;
    try {
      await nodeOnline(t, secondId);
      await second.waitFor((l) => l.seq === 2, "a heartbeat with the GPUs");
      const ran = await cli(["--json", "run", IMAGE, "--gpus", "1", "--replicas", "3", "--", "sh", "-c", 'echo replica $REPLICA_INDEX of $REPLICA_COUNT; [ "$REPLICA_INDEX" != 2 ]']);
      expect(ran.code, ran.stdout + ran.stderr).toBe(1);
      const doc = JSON.parse(ran.stdout) as { failed: number; replicas: Array<{ index: number; nodeId: string; status: string; exitCode: number; logTail: string }> };
      expect(doc.failed).toBe(1);
      expect(doc.replicas.map((r) => [r.index, r.status, r.exitCode])).toEqual([[0, "exited", 0], [1, "exited", 0], [2, "exited", 1]]);
      for (const r of doc.replicas) expect(r.logTail).toContain(`replica ${r.index} of 3`);
      expect(new Set(doc.replicas.map((r) => r.nodeId))).toEqual(new Set([nodeId, secondId]));
    } finally {
      await second.kill("SIGKILL");
      await removeNodeLeftovers(engine, secondId);
    }
  });

  it("exits 2 on bad usage and 1 with the hub's code on a refusal", async () => {
    expect((await cli(["rent"])).code).toBe(2);
    expect((await cli(["logs", "x", "--tail", "0"])).code).toBe(2);
    const refused = await cli(["--json", "show", "00000000-0000-0000-0000-000000000000"]);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ error: { code: "unknown_rental" } });
  });

  it("logs in from an encrypted keystore, and logs out: the session ends at the hub too", async () => {
    const keystore = join(dir.path, "keystore.json");
    await writeFile(keystore, await encryptKeystoreJson({ address: renter.address, privateKey: renter.privateKey }, "correct horse", { scrypt: { N: 1024 } }), { mode: 0o600 });
    expect(await cli(["login", "--hub-http", t.http.baseUrl, "--keystore", keystore], { GPU_RENT_KEYSTORE_PASSWORD: "wrong" })).toMatchObject({ code: 1, stderr: expect.stringContaining("wrong password") });
    expect((await json<{ address: string }>(["login", "--hub-http", t.http.baseUrl, "--keystore", keystore], { GPU_RENT_KEYSTORE_PASSWORD: "correct horse" })).address).toBe(renter.address);
    const session = JSON.parse(await import("node:fs/promises").then((fs) => fs.readFile(join(configDir, "session.json"), "utf8"))) as { token: string };
    expect(await json<{ loggedOut: string }>(["logout"])).toEqual({ loggedOut: renter.address });
    await expect(t.hub.store.rentals.list({ renter: renter.address })).resolves.toBeDefined();
    // The token the CLI held no longer works anywhere.
    await expect(requestJson(t.http, "GET", "/v1/rentals", { bearer: session.token })).rejects.toMatchObject({ status: 401 });
    expect(await cli(["ls"])).toMatchObject({ code: 1, stderr: expect.stringContaining("not logged in") });
  });
});
