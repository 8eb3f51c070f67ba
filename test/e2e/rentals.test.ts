import { execFile } from "node:child_process";
import { stat, writeFile } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { promisify } from "node:util";
import { join } from "node:path";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerodeEngine } from "../../internal/container/dockerode-engine.js";
import { LABELS, parseWorkloadLabels, workloadFilter } from "../../internal/container/labels.js";
import { requestJson } from "../../internal/httpclient/json-client.js";
import { type Command, type CommandResult, type RentalEvent, type RentalInfo, RentalState } from "../../internal/proto/gen/gpunode/v1/gpunode.js";
import { hashPassword } from "../../internal/ssh/password-hash.js";
import { reserveFreePort } from "../../internal/util/net.js";
import { buildFakeNvml } from "../fixtures/nvml/build-fake-nvml.js";
import { fakeNvmlConfig, writeFakeNvmlConfig } from "../fixtures/nvml/fake-nvml-config.js";
import { EngineWatch } from "../support/engine-watch.js";
import { runClient, type SshKey, sshExec, sshForward, sshKeypair } from "../support/openssh.js";
import type { Program } from "../support/program.js";
import { lockRegistry, REGISTRY, removeImage, requireRegistry } from "../support/registry.js";
import { signIn } from "../support/renter.js";
import { startDaemon, tempDir, writeKeyFile } from "../support/stack.js";
import { nodeOnline, startTestHub, type TestHub } from "../support/test-hub.js";
import { removeNodeLeftovers } from "../support/node-leftovers.js";

const BUSYBOX = "gpunode-test/busybox:latest";
const MINER = "gpunode-test/miner:latest";
/** From the local registry (test/setup/registry.sh): a pull that takes a while, and one for -prepull. */
const BIG = `${REGISTRY}/gpunode-test/big:latest`;
const PULLED_SMALL = `${REGISTRY}/gpunode-test/busybox:latest`;
/** The promise to providers: mining is back on a GPU within 5 s of its rental ending. */
const RESUME_MS = 5_000;

/** What the hub's read API (GET /v1/nodes/:id) shows of a node's latest heartbeat. */
interface HeartbeatView {
  gpus: { index: number; activity: string; rentalId: string }[];
  rentals: { rentalId: string; state: RentalState; adopted: boolean }[];
}

/** A real daemon process with 4 stand-in GPUs, the real Docker engine and a real hub sending commands. */
describe("rentals and idle mining on the real Docker engine", () => {
  const engine = new DockerodeEngine();
  let watch: EngineWatch;
  let t: TestHub;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let daemonArgs: string[];
  let daemonEnv: NodeJS.ProcessEnv;
  let daemon: Program;
  let nodeId: string;
  let asProvider: string;
  let key: SshKey;
  let stranger: SshKey;
  let registryPid: number;
  let unlockRegistry: (() => void) | undefined;
  const portBase = 30_000 + Math.floor(Math.random() * 300) * 100;

  const command = async (body: Command["body"], timeoutMs = 60_000, node = nodeId): Promise<CommandResult> => t.hub.channel.sendCommand(node, body, { timeoutMs });
  const startBody = (rentalId: string, gpuIds: string[], extra: Partial<Extract<Command["body"], { $case: "startRental" }>["value"]> = {}): Command["body"] => ({
    $case: "startRental",
    value: { rentalId, image: BUSYBOX, gpus: { count: 0, ids: gpuIds, model: "" }, cpuMillis: 0, memoryBytes: 256 * 1024 ** 2, shmBytes: 0, pidsLimit: 0, env: [], command: [], sshPublicKeys: [key.publicKey], sshPasswordHash: "", maxDurationSeconds: 0, runAsRoot: false, ...extra },
  });
  const startRental = async (rentalId: string, gpuIds: string[], extra: Parameters<typeof startBody>[2] = {}) => command(startBody(rentalId, gpuIds, extra));
  const rental = (r: CommandResult): RentalInfo => {
    if (r.outcome?.$case !== "rental") throw new Error(`expected a rental, got ${JSON.stringify(r.outcome)}`);
    return r.outcome.value;
  };
  const failure = (r: CommandResult) => (r.outcome?.$case === "error" ? r.outcome.value : undefined);
  /** GPU index -> id of the running miner container on it. */
  const miners = async (node = nodeId): Promise<Map<number, string>> => {
    const list = await engine.list({ labels: workloadFilter(node, "miner") });
    return new Map(list.filter((c) => c.running).map((c) => [Number(parseWorkloadLabels(c.labels)?.gpuIds[0]), c.id]));
  };
  const rentalContainers = async () => (await engine.list({ labels: workloadFilter(nodeId, "rental") })).filter((c) => c.running);
  const minersOn = (gpus: number[], timeoutMs?: number, node = nodeId) => watch.until(async () => {
    const m = await miners(node);
    return gpus.every((g) => m.has(g)) && m.size === gpus.length ? m : undefined;
  }, `miners on exactly GPUs ${gpus.join(",")}`, timeoutMs);
  /** The hub's read API, checked at every heartbeat the hub takes in, until `ok` holds. */
  const hubShows = (ok: (hb: HeartbeatView) => boolean, what: string, timeoutMs = 15_000): Promise<HeartbeatView> =>
    new Promise((resolve, reject) => {
      let last: HeartbeatView | undefined;
      const done = (): void => {
        clearTimeout(timer);
        t.hub.channel.events.off("heartbeat", onBeat);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`the hub never showed ${what}; its last heartbeat: ${JSON.stringify(last)}`));
      }, timeoutMs);
      const onBeat = (id: string): void => {
        if (id !== nodeId) return;
        void requestJson<{ lastHeartbeat: { body: HeartbeatView } | null }>(t.http, "GET", `/v1/nodes/${nodeId}`, { bearer: asProvider }).then((n) => {
          last = n.lastHeartbeat?.body;
          if (!last || !ok(last)) return;
          done();
          resolve(last);
        }, () => undefined);
      };
      t.hub.channel.events.on("heartbeat", onBeat);
    });
  const running = (hb: HeartbeatView, ids: string[]) => ids.every((id) => hb.rentals.some((r) => r.rentalId === id && r.state === RentalState.RENTAL_STATE_RUNNING));
  const gpuView = (hb: HeartbeatView) => hb.gpus.map((g) => [g.index, g.activity, g.rentalId]);

  function launchDaemon(): Program {
    daemon = startDaemon(daemonArgs, daemonEnv);
    return daemon;
  }

  beforeAll(async () => {
    registryPid = await requireRegistry();
    // The registry tests SIGSTOP the same registry: never run beside them.
    unlockRegistry = await lockRegistry();
    watch = await EngineWatch.start(engine);
    dir = await tempDir("rentals");
    t = await startTestHub({ heartbeatIntervalMs: 1_000 });
    const lib = await buildFakeNvml();
    const nvmlConfig = join(dir.path, "nvml.json");
    await writeFakeNvmlConfig(nvmlConfig, fakeNvmlConfig(4));
    key = await sshKeypair(dir.path, "renter");
    stranger = await sshKeypair(dir.path, "stranger");
    const provider = Wallet.createRandom();
    const walletKey = await writeKeyFile(dir.path, provider);
    daemonArgs = [
      "-hub", t.grpcTarget, "-hub-http", t.http.baseUrl, "-hub-ca-fingerprint", t.hub.info.caFingerprint,
      "-host", "127.0.0.1", "-private-key-file", walletKey, "-cert-dir", join(dir.path, "certs"), "-state-dir", join(dir.path, "state"),
      "-api-port", "0", "-api-listen-host", "127.0.0.1", "-nvml-library", lib,
      "-mining-image", MINER, "-mining-data-dir=", "-ssh-ports", `${portBase}-${portBase + 49}`, "-ssh-listen-host", "127.0.0.1",
    ];
    daemonEnv = { FAKE_NVML_CONFIG: nvmlConfig };
    launchDaemon();
    nodeId = (await daemon.waitFor((l) => l.created === true, "registration")).nodeId as string;
    await nodeOnline(t, nodeId);
    // The node's rentals and miners are its provider's to read.
    asProvider = await signIn(t.http, provider);
    await minersOn([0, 1, 2, 3]);
  });

  afterAll(async () => {
    await daemon?.kill("SIGKILL");
    await removeNodeLeftovers(engine, nodeId);
    watch?.stop();
    await t?.close();
    await dir?.remove();
    if (registryPid) await Promise.all([BIG, PULLED_SMALL].map(removeImage));
    unlockRegistry?.();
  });

  it("runs two rentals on GPUs {0} and {1,2}, each seeing exactly its GPUs, while GPU 3 keeps mining", async () => {
    const before = await miners();
    const [a, b] = await Promise.all([startRental("rent-a", ["0"]), startRental("rent-b", ["1", "2"])]);
    const ra = rental(a);
    const rb = rental(b);
    expect(ra.state).toBe(RentalState.RENTAL_STATE_RUNNING);
    expect(ra.gpuIndices).toEqual([0]);
    expect(rb.gpuIndices).toEqual([1, 2]);
    expect(ra.ssh?.command).toBe(`ssh -p ${ra.ssh?.port} renter@127.0.0.1`);

    expect((await sshExec(key, ra.ssh!.port, "renter", "echo $NVIDIA_VISIBLE_DEVICES")).stdout.trim()).toBe("0");
    expect((await sshExec(key, rb.ssh!.port, "renter", "echo $NVIDIA_VISIBLE_DEVICES")).stdout.trim()).toBe("1,2");

    const after = await minersOn([3]);
    expect(after.get(3)).toBe(before.get(3)); // the same miner container, never interrupted

    // What the hub's read API shows: each GPU with its rental, the free one mining.
    const hb = await hubShows((h) => running(h, ["rent-a", "rent-b"]), "both rentals running");
    expect(gpuView(hb)).toEqual([
      [0, "GPU_ACTIVITY_RENTED", "rent-a"],
      [1, "GPU_ACTIVITY_RENTED", "rent-b"],
      [2, "GPU_ACTIVITY_RENTED", "rent-b"],
      [3, "GPU_ACTIVITY_MINING", ""],
    ]);
  });

  it("lets a stock ssh client (default log level) forward a port into a new rental, without a false banner about -L", async () => {
    const { port } = rental(await startRental("fwd", [])).ssh!;
    const local = await reserveFreePort("127.0.0.1");
    const web = "mkdir -p /www && echo forwarded-ok > /www/index.html && httpd -p 8000 -h /www"; // httpd listens, then goes to the background
    const fwd = await sshForward(key, port, "renter", local, "localhost:8000", web, { logLevel: "INFO" });
    const page = await fetch(`http://127.0.0.1:${local}/index.html`).then((r) => r.text(), (err: unknown) => err);
    const ran = await fwd.close();
    expect(page).toBe("forwarded-ok\n");
    expect(ran.code).toBe(0);
    expect(ran.stderr).not.toContain("port forwarding");
    await command({ $case: "stopRental", value: { rentalId: "fwd", timeoutSeconds: 1 } });
  });

  it("refuses a GPU that is taken or unknown, and changes nothing", async () => {
    const running = (await rentalContainers()).length;
    expect(failure(await startRental("rent-c", ["0"]))).toMatchObject({ code: "gpu_taken", message: expect.stringContaining("rent-a") });
    expect(failure(await startRental("rent-d", ["7"]))).toMatchObject({ code: "unknown_gpu", message: expect.stringContaining('"7"') });
    expect((await rentalContainers()).length).toBe(running);
    expect([...(await miners()).keys()]).toEqual([3]);
  });

  it("answers a repeated start of the same rental with the running rental, not a second container", async () => {
    const again = rental(await startRental("rent-a", ["0"]));
    expect(again.state).toBe(RentalState.RENTAL_STATE_RUNNING);
    expect((await rentalContainers()).filter((c) => c.labels[LABELS.rentalId] === "rent-a")).toHaveLength(1);
  });

  it("lets the renter in over SSH with the rental's key: exec with exit code and stdin, scp both ways; refuses another key", async () => {
    const { port } = rental(await startRental("rent-a", ["0"])).ssh!;
    expect((await sshExec(key, port, "renter", "exit 7")).code).toBe(7);
    expect((await sshExec(key, port, "renter", "tr a-z A-Z", "shout\n")).stdout).toBe("SHOUT\n");

    const local = join(dir.path, "payload.bin");
    const payload = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251));
    await writeFile(local, payload);
    const target = "renter@127.0.0.1";
    const up = await runClient("scp", ["-i", key.privateKeyPath, "-P", String(port), local, `${target}:/tmp/payload.bin`]);
    expect(up.code, up.stderr).toBe(0);
    const back = join(dir.path, "back.bin");
    const down = await runClient("scp", ["-i", key.privateKeyPath, "-P", String(port), `${target}:/tmp/payload.bin`, back]);
    expect(down.code, down.stderr).toBe(0);
    const { readFile } = await import("node:fs/promises");
    expect(Buffer.compare(await readFile(back), payload)).toBe(0);

    const refused = await sshExec(stranger, port, "renter", "true");
    expect(refused.code).toBe(255);
    expect(refused.stderr).toContain("Permission denied");
  });

  it("runs a batch job to completion and reports its exit code, with its logs retrievable", async () => {
    const exited = new Promise<RentalEvent>((resolve) =>
      t.hub.channel.events.on("rentalEvent", (_node, ev) => ev.rental?.rentalId === "job-1" && ev.rental.state === RentalState.RENTAL_STATE_EXITED && resolve(ev)),
    );
    const started = await startRental("job-1", [], { command: ["sh", "-c", "echo hello from the job; echo oops >&2; exit 3"], sshPublicKeys: [] });
    expect(failure(started)).toBeUndefined();
    const ev = await exited;
    expect(ev.rental?.exitCode).toBe(3);
    expect(ev.rental?.reason).toBe("exited with code 3");
    const logs = await command({ $case: "getRentalLogs", value: { rentalId: "job-1", tailLines: 10 } });
    expect(logs.outcome?.$case === "rentalLogs" && logs.outcome.value.text).toContain("hello from the job");
    const stopped = rental(await command({ $case: "stopRental", value: { rentalId: "job-1", timeoutSeconds: 1 } }));
    expect(stopped.exitCode).toBe(3);
  });

  it("reports a batch job killed for exceeding its memory limit", async () => {
    const ended = new Promise<RentalEvent>((resolve) =>
      t.hub.channel.events.on("rentalEvent", (_node, ev) => ev.rental?.rentalId === "job-oom" && ev.rental.state === RentalState.RENTAL_STATE_EXITED && resolve(ev)),
    );
    const started = await startRental("job-oom", [], { command: ["sh", "-c", "head -c 200m /dev/zero | tail -c 100m >/dev/null"], sshPublicKeys: [], memoryBytes: 16 * 1024 ** 2 });
    expect(failure(started)).toBeUndefined();
    const ev = await ended;
    expect(ev.rental?.oomKilled).toBe(true);
    expect(ev.rental?.reason).toContain("more memory than its limit");
    await command({ $case: "stopRental", value: { rentalId: "job-oom", timeoutSeconds: 1 } });
  });

  it("stops a rental at its duration limit and tells the hub why", async () => {
    const ended = new Promise<RentalEvent>((resolve) =>
      t.hub.channel.events.on("rentalEvent", (_node, ev) => ev.rental?.rentalId === "short" && ev.rental.state === RentalState.RENTAL_STATE_STOPPED && resolve(ev)),
    );
    expect(rental(await startRental("short", [], { maxDurationSeconds: 1, runAsRoot: false })).state).toBe(RentalState.RENTAL_STATE_RUNNING);
    expect((await ended).rental?.reason).toBe("duration limit reached");
    expect((await rentalContainers()).some((c) => c.labels[LABELS.rentalId] === "short")).toBe(false);
  });

  it("keeps an SSH password only as a hash, and never in the container's configuration", async () => {
    const hash = await hashPassword("correct horse battery staple");
    const started = rental(await startRental("with-password", [], { sshPasswordHash: hash }));
    const { stdout } = await promisify(execFile)("docker", ["inspect", started.containerId]);
    expect(stdout).not.toContain(hash.split("$").pop() ?? hash);
    expect(stdout).not.toContain("scrypt$");
    const saved = await stat(join(dir.path, "state", "rentals", "with-password.json"));
    expect(saved.mode & 0o077).toBe(0);
    await command({ $case: "stopRental", value: { rentalId: "with-password", timeoutSeconds: 1 } });
  });

  it("gives a clear error for an image that does not exist, and mining is not interrupted", async () => {
    const before = await miners();
    const res = failure(await startRental("rent-x", ["3"], { image: "gpunode-test/does-not-exist:1.0" }));
    expect(res?.code).toBe("image_unavailable");
    expect(res?.message).toContain("gpunode-test/does-not-exist:1.0");
    expect((await miners()).get(3)).toBe(before.get(3));
  });

  it("finishes a start whose hub stream dropped during the image pull, and answers the hub's repeat of that command with it", async () => {
    await removeImage(BIG);
    const body = startBody("pulled", ["3"], { image: BIG });
    const id = `start-pulled-${Date.now()}`;
    // A frozen registry holds the pull (far below -pull-stall-timeout) while the hub's stream goes away.
    process.kill(registryPid, "SIGSTOP");
    try {
      const first = t.hub.channel.sendCommand(nodeId, body, { id, timeoutMs: 60_000 }).catch((err: unknown) => err);
      await daemon.waitFor((l) => l.msg === "pulling image" && l.image === BIG, "the pull of the big image");
      const back = daemon.waitForNext((l) => l.msg === "connected to the hub over mTLS", "reconnection");
      t.hub.channel.closeAll();
      expect(await first).toMatchObject({ code: "node_disconnected" });
      await back;
    } finally {
      process.kill(registryPid, "SIGCONT");
    }
    const info = rental(await t.hub.channel.sendCommand(nodeId, body, { id, timeoutMs: 60_000 }));
    expect(info).toMatchObject({ rentalId: "pulled", state: RentalState.RENTAL_STATE_RUNNING, gpuIndices: [3] });
    expect((await sshExec(key, info.ssh!.port, "renter", "echo $NVIDIA_VISIBLE_DEVICES")).stdout.trim()).toBe("3");
    expect((await rentalContainers()).filter((c) => c.labels[LABELS.rentalId] === "pulled")).toHaveLength(1);

    await command({ $case: "stopRental", value: { rentalId: "pulled", timeoutSeconds: 1 } });
    await minersOn([3], RESUME_MS);
  });

  it("adopts both rentals after a SIGKILL of the daemon, keeps SSH working, and stops one through the hub with mining back on its GPUs", async () => {
    const portA = rental(await startRental("rent-a", ["0"])).ssh!.port;
    await daemon.kill("SIGKILL");
    expect((await rentalContainers()).map((c) => c.labels[LABELS.rentalId]).sort()).toEqual(["rent-a", "rent-b"]);

    launchDaemon();
    await daemon.waitFor((l) => l.msg === "connected to the hub over mTLS", "reconnection", 30_000);
    expect(daemon.lines.filter((l) => l.msg === "adopted a running rental").map((l) => l.rentalId).sort()).toEqual(["rent-a", "rent-b"]);
    expect((await sshExec(key, portA, "renter", "echo $NVIDIA_VISIBLE_DEVICES")).stdout.trim()).toBe("0");
    await minersOn([3]); // no duplicate miners, none on rented GPUs
    // The hub is told what runs, not only the daemon's log.
    const hb = await hubShows((h) => h.rentals.filter((r) => r.adopted && r.state === RentalState.RENTAL_STATE_RUNNING).length === 2, "both rentals adopted");
    expect(hb.rentals.map((r) => r.rentalId).sort()).toEqual(["rent-a", "rent-b"]);
    expect(gpuView(hb).slice(0, 3)).toEqual([
      [0, "GPU_ACTIVITY_RENTED", "rent-a"],
      [1, "GPU_ACTIVITY_RENTED", "rent-b"],
      [2, "GPU_ACTIVITY_RENTED", "rent-b"],
    ]);

    const stopped = rental(await command({ $case: "stopRental", value: { rentalId: "rent-b", timeoutSeconds: 2 } }));
    expect(stopped.state).toBe(RentalState.RENTAL_STATE_STOPPED);
    expect(stopped.adopted).toBe(true);
    await minersOn([1, 2, 3], RESUME_MS);
    expect((await rentalContainers()).map((c) => c.labels[LABELS.rentalId])).toEqual(["rent-a"]);
  });

  it("resumes mining on GPU 0 when its rental stops", async () => {
    const stopped = rental(await command({ $case: "stopRental", value: { rentalId: "rent-a", timeoutSeconds: 2 } }));
    expect(stopped.state).toBe(RentalState.RENTAL_STATE_STOPPED);
    await minersOn([0, 1, 2, 3], RESUME_MS);
    const repeated = rental(await command({ $case: "stopRental", value: { rentalId: "rent-a", timeoutSeconds: 2 } }));
    expect(repeated.state).toBe(RentalState.RENTAL_STATE_STOPPED);
  });

  describe("a daemon started before its Docker engine answers", () => {
    const socketPath = () => join(dir.path, "late-docker.sock");
    let late: Program;
    let lateId: string;
    let proxy: Server | undefined;
    const piped = new Set<Socket>();

    beforeAll(async () => {
      await removeImage(PULLED_SMALL);
      const provider = Wallet.createRandom();
    const walletKey = await writeKeyFile(dir.path, provider);
      const args = daemonArgs.map((a) => a.replace(join(dir.path, "certs"), join(dir.path, "late-certs")).replace(join(dir.path, "state"), join(dir.path, "late-state")));
      const at = (flag: string) => args.indexOf(flag) + 1;
      args[at("-private-key-file")] = walletKey;
      args[at("-ssh-ports")] = `${portBase + 50}-${portBase + 99}`;
      late = startDaemon([...args, "-docker-socket", socketPath(), "-prepull", PULLED_SMALL], daemonEnv);
      lateId = (await late.waitFor((l) => l.created === true, "registration")).nodeId as string;
      await late.waitFor((l) => typeof l.msg === "string" && l.msg.startsWith("Docker engine not reachable"), "the missing engine");
      await nodeOnline(t, lateId);
    });

    afterAll(async () => {
      await late?.kill("SIGKILL");
      for (const s of piped) s.destroy();
      proxy?.close();
      await removeNodeLeftovers(engine, lateId);
    });

    it("refuses rentals while no engine answers, saying why", async () => {
      expect(failure(await command(startBody("late-0", ["0"]), 60_000, lateId))).toMatchObject({ code: "rentals_unavailable", message: expect.stringContaining("Docker engine not reachable") });
    });

    it("turns rentals, mining and -prepull on once the engine appears at its socket", async () => {
      // The engine "starts": its socket appears where -docker-socket points.
      // Half-open kept: docker exec half-closes stdin and still reads the output.
      proxy = createServer({ allowHalfOpen: true }, (c) => {
        const up = connect({ path: "/var/run/docker.sock", allowHalfOpen: true });
        for (const s of [c, up]) {
          piped.add(s);
          s.on("error", () => undefined).on("close", () => piped.delete(s));
        }
        c.pipe(up).pipe(c);
      });
      await new Promise<void>((resolve) => proxy!.listen(socketPath(), resolve));
      await late.waitFor((l) => typeof l.msg === "string" && l.msg.includes("rentals and mining are on"), "rentals and mining turned on", 45_000);
      await minersOn([0, 1, 2, 3], undefined, lateId);

      const info = rental(await command(startBody("late-1", ["0"]), 60_000, lateId));
      expect(info.state).toBe(RentalState.RENTAL_STATE_RUNNING);
      const ran = await sshExec(key, info.ssh!.port, "renter", "echo in-late");
      expect(ran.stdout.trim(), ran.stderr).toBe("in-late");
      await command({ $case: "stopRental", value: { rentalId: "late-1", timeoutSeconds: 1 } }, 60_000, lateId);

      await late.waitFor((l) => l.msg === "image present (-prepull)" && l.image === PULLED_SMALL, "the pre-pull", 30_000);
      expect(await engine.imageExists(PULLED_SMALL)).toBe(true);
    });
  });
});
