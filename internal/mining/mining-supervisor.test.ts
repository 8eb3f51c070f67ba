// Runs against the real engine: `bash test/setup/docker-engine.sh` first. No engine is a failure,
// not a skip. GPUs come from the stand-in NVIDIA hook; the "miner" is a busybox shell loop.
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DockerodeEngine } from "../container/dockerode-engine.js";
import type { ContainerEngine, ContainerEvent, ExecSession } from "../container/engine.js";
import { ContainerError } from "../container/errors.js";
import { workloadFilter } from "../container/labels.js";
import { MinerState, type MinerStatus } from "../proto/gen/gpunode/v1/gpunode.js";
import { sleep } from "../util/abort.js";
import { minerGpuIndex, minerName, minerSpec } from "./miner-spec.js";
import type { MiningOptions } from "./mining-options.js";
import { MiningSupervisor } from "./mining-supervisor.js";

const IMAGE = "gpunode-test/busybox:latest";
/** Exits on SIGTERM at once (a shell waiting in `wait` runs its trap right away), like a real miner. */
const MINER_SCRIPT = "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done";
const SECRET = `pool-password-${randomUUID()}`;
const { MINER_STATE_RUNNING: RUNNING, MINER_STATE_PAUSED: PAUSED, MINER_STATE_BACKOFF: BACKOFF, MINER_STATE_DISABLED: DISABLED } = MinerState;

const engine = new DockerodeEngine();
const nodeIds = new Set<string>();
const cleanups: Array<() => Promise<void>> = [];
let dataDir = "";

beforeAll(async () => {
  await engine.ping(AbortSignal.timeout(5_000)).catch((err: unknown) => {
    throw new Error(`no Docker engine answers: run \`bash test/setup/docker-engine.sh\` first (${String(err)})`, { cause: err });
  });
  expect(await engine.imageExists(IMAGE)).toBe(true);
  dataDir = await mkdtemp(join(tmpdir(), "gpunode-mining-"));
});

afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
  for (const nodeId of nodeIds) {
    const left = await engine.list({ labels: workloadFilter(nodeId) });
    await Promise.all(left.map((c) => engine.remove(c.id, { force: true })));
  }
});

afterAll(async () => {
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

class FakeAllocation {
  readonly held = new Set<number>();
  constructor(private readonly count = 4) {}
  free(): number[] {
    return [...Array(this.count).keys()].filter((i) => !this.held.has(i));
  }
}

interface Fixture {
  sup: MiningSupervisor;
  alloc: FakeAllocation;
  nodeId: string;
  opts: MiningOptions;
  logs: string[];
  deviceId: (i: number) => string;
}

function fixture(over: Partial<MiningOptions> = {}, deps: { engine?: ContainerEngine; alloc?: FakeAllocation } = {}): Fixture {
  const nodeId = over.nodeId ?? randomUUID();
  nodeIds.add(nodeId);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString("utf8"));
      cb();
    },
  });
  const opts: MiningOptions = {
    enabled: true,
    image: IMAGE,
    dataDir,
    entrypoint: ["sh", "-c", MINER_SCRIPT, "miner"],
    args: ["--pool", "stratum+tcp://pool.invalid:4444"],
    env: [
      { name: "WALLET", value: "0xwallet" },
      { name: "POOL_PASSWORD", value: SECRET },
    ],
    nodeId,
    stopTimeoutSec: 2,
    backoff: { initialMs: 200, maxMs: 2_000, factor: 2 },
    stableAfterMs: 60_000,
    resources: { nanoCpus: 250_000_000, memoryBytes: 64 * 1024 * 1024, pidsLimit: 64 },
    ...over,
  };
  const alloc = deps.alloc ?? new FakeAllocation();
  const deviceId = (i: number): string => `GPU-${nodeId.slice(0, 8)}-${i}`;
  const sup = new MiningSupervisor(opts, { engine: deps.engine ?? engine, allocation: alloc, deviceId, logger: pino({ level: "debug" }, sink) });
  cleanups.push(async () => {
    await sup.stopAll();
    await sup.close();
  });
  return { sup, alloc, nodeId, opts, logs, deviceId };
}

/** Resolves with status() once `pred` holds, checked now and after every change. */
function waitFor(sup: MiningSupervisor, pred: (s: MinerStatus[]) => boolean, what: string, timeoutMs = 10_000): Promise<MinerStatus[]> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const s = sup.status();
      if (!pred(s)) return false;
      clearTimeout(timer);
      off();
      resolve(s);
      return true;
    };
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for ${what}; status: ${JSON.stringify(sup.status())}`));
    }, timeoutMs);
    const off = sup.onChange(() => void check());
    check();
  });
}

function gpu(s: MinerStatus[], index: number): MinerStatus {
  const m = s.find((x) => x.gpuIndex === index);
  if (!m) throw new Error(`no status for GPU ${index}`);
  return m;
}

async function minersByGpu(nodeId: string): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  for (const c of await engine.list({ labels: workloadFilter(nodeId, "miner") })) {
    const i = minerGpuIndex(c.labels, nodeId) ?? -1;
    out.set(i, [...(out.get(i) ?? []), c.id]);
  }
  return out;
}

async function execOut(s: ExecSession): Promise<string> {
  let out = "";
  s.stdout.setEncoding("utf8");
  s.stdout.on("data", (d: string) => (out += d));
  s.stderr.resume();
  await s.wait(AbortSignal.timeout(10_000));
  return out;
}

/** The engine's container events as they come (`seen`), and a wait for one, without sleeping. */
async function watchEvents(signal: AbortSignal): Promise<{ seen: ContainerEvent[]; next(pred: (e: ContainerEvent) => boolean): Promise<ContainerEvent> }> {
  const seen: ContainerEvent[] = [];
  const waiters: Array<{ pred: (e: ContainerEvent) => boolean; resolve: (e: ContainerEvent) => void }> = [];
  const events = await engine.events(signal);
  void (async () => {
    for await (const e of events) {
      seen.push(e);
      for (const w of waiters.filter((x) => x.pred(e))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
    }
  })().catch(() => {});
  return {
    seen,
    next: (pred) => {
      const hit = seen.find(pred);
      return hit ? Promise.resolve(hit) : new Promise((resolve) => waiters.push({ pred, resolve }));
    },
  };
}

/** The real engine with some methods replaced; the rest are the engine's own. */
function withOverrides(inner: ContainerEngine, over: Partial<ContainerEngine>): ContainerEngine {
  return new Proxy(inner, {
    get(target, key) {
      if (key in over) return over[key as keyof ContainerEngine];
      const v: unknown = Reflect.get(target, key, target);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe("MiningSupervisor against the real engine", () => {
  it("starts one miner per free GPU, each seeing exactly its own GPU, and never logs env values", async () => {
    const { sup, nodeId, logs, deviceId } = fixture();
    await sup.start(AbortSignal.timeout(30_000));

    const status = sup.status();
    expect(status.map((s) => [s.gpuIndex, s.state])).toEqual([0, 1, 2, 3].map((i) => [i, RUNNING]));
    const byGpu = await minersByGpu(nodeId);
    expect([...byGpu.keys()].sort()).toEqual([0, 1, 2, 3]);
    for (const i of [0, 1, 2, 3]) {
      const ids = byGpu.get(i) ?? [];
      expect(ids).toEqual([gpu(status, i).containerId]);
      const st = await engine.inspect(ids[0] ?? "");
      expect(st.running).toBe(true);
      expect(st.name).toBe(minerName(nodeId, i));
      expect(st.gpuDeviceIds).toEqual([deviceId(i)]);
      const env = await execOut(await engine.exec(st.id, { cmd: ["env"], tty: false, stdin: false }));
      expect(env).toContain(`NVIDIA_VISIBLE_DEVICES=${deviceId(i)}\n`);
      expect((await stat(join(dataDir, `gpu-${i}`))).isDirectory()).toBe(true);
    }
    // /data is the GPU's own folder, writable: what the miner writes there lands in <dataDir>/gpu-1.
    const probe = await execOut(
      await engine.exec(gpu(status, 1).containerId, { cmd: ["sh", "-c", "grep ' /data ' /proc/mounts; echo dag > /data/cache 2>&1 || echo refused"], tty: false, stdin: false }),
    );
    expect(probe).toMatch(/ \/data \S+ rw[, ]/);
    expect(probe).not.toContain("refused");
    expect(await readFile(join(dataDir, "gpu-1", "cache"), "utf8")).toBe("dag\n");

    const text = logs.join("");
    expect(text).toContain("mining started");
    expect(text).not.toContain(SECRET);
  });

  it("pause removes only that GPU's miner, the others keep their containers; resume brings it back", async () => {
    const { sup, nodeId, logs } = fixture();
    await sup.start(AbortSignal.timeout(30_000));
    const before = sup.status();

    let t0 = performance.now();
    await sup.pause([0]);
    const pauseMs = performance.now() - t0;
    let byGpu = await minersByGpu(nodeId);
    expect(byGpu.has(0)).toBe(false);
    for (const i of [1, 2, 3]) expect(byGpu.get(i)).toEqual([gpu(before, i).containerId]);
    expect(gpu(sup.status(), 0)).toMatchObject({ state: PAUSED, containerId: "" });

    t0 = performance.now();
    await sup.resume([0]);
    const resumeMs = performance.now() - t0;
    byGpu = await minersByGpu(nodeId);
    const now = sup.status();
    expect(gpu(now, 0).state).toBe(RUNNING);
    expect(byGpu.get(0)).toEqual([gpu(now, 0).containerId]);
    expect(gpu(now, 0).containerId).not.toBe(gpu(before, 0).containerId);
    for (const i of [1, 2, 3]) expect(byGpu.get(i)).toEqual([gpu(before, i).containerId]);
    expect(logs.join("")).toMatch(/mining paused[\s\S]*mining resumed/);
    // The provider's promise: mining is back on a GPU within 5 s of its rental ending.
    expect(resumeMs).toBeLessThan(5_000);
    console.log(`pause of one miner: ${pauseMs.toFixed(0)} ms; resume: ${resumeMs.toFixed(0)} ms`);
  });

  it("does not resume a GPU a rental holds", async () => {
    const { sup, alloc, nodeId } = fixture();
    await sup.start(AbortSignal.timeout(30_000));
    await sup.pause([2]);
    alloc.held.add(2);
    await sup.resume([2]);
    expect(gpu(sup.status(), 2)).toMatchObject({ state: PAUSED, containerId: "" });
    expect((await minersByGpu(nodeId)).has(2)).toBe(false);

    alloc.held.delete(2);
    await sup.resume([2]);
    expect(gpu(sup.status(), 2).state).toBe(RUNNING);
    expect((await minersByGpu(nodeId)).get(2)).toHaveLength(1);
  });

  it("restarts a killed miner after a backoff and counts the restart", async () => {
    const { sup, nodeId } = fixture();
    await sup.start(AbortSignal.timeout(30_000));
    const old = gpu(sup.status(), 1).containerId;
    const seen: MinerStatus[] = [];
    sup.onChange((s) => seen.push(s));

    await promisify(execFile)("docker", ["kill", old]);
    const s = await waitFor(sup, (x) => gpu(x, 1).state === RUNNING && gpu(x, 1).containerId !== old, "GPU 1 restarted");
    expect(gpu(s, 1).restarts).toBe(1);
    expect(gpu(s, 1).lastError).toMatch(/exited with code 137/);
    expect(seen.some((x) => x.gpuIndex === 1 && x.state === BACKOFF)).toBe(true);
    expect(seen.every((x) => x.gpuIndex === 1)).toBe(true); // nobody else was touched
    const byGpu = await minersByGpu(nodeId);
    expect(byGpu.get(1)).toEqual([gpu(s, 1).containerId]);
    expect([...byGpu.values()].flat()).toHaveLength(4);
  });

  it("replaces miners an earlier supervisor of the same node left, duplicates included", async () => {
    const first = fixture();
    await first.sup.start(AbortSignal.timeout(30_000));
    const oldIds = first.sup.status().map((s) => s.containerId);
    // A duplicate for GPU 1 under another name, as a crashed daemon might have left.
    const dupSpec = { ...minerSpec(first.opts, 1, first.deviceId(1)), name: `${minerName(first.nodeId, 1)}-dup` };
    const dup = await engine.createAndStart(dupSpec);
    await first.sup.close();
    expect([...(await minersByGpu(first.nodeId)).values()].flat()).toHaveLength(5);

    const second = fixture({ nodeId: first.nodeId });
    await second.sup.start(AbortSignal.timeout(30_000));
    const byGpu = await minersByGpu(first.nodeId);
    const ids = [...byGpu.values()].flat();
    expect(ids).toHaveLength(4);
    for (const i of [0, 1, 2, 3]) expect(byGpu.get(i)).toEqual([gpu(second.sup.status(), i).containerId]);
    for (const id of [...oldIds, dup]) expect(ids).not.toContain(id);
  });

  it("a missing miner image goes to BACKOFF with a clear error and no tight loop; pause cancels the retry", async () => {
    let attempts = 0;
    const counting = withOverrides(engine, {
      createAndStart: (spec, signal) => {
        attempts++;
        return engine.createAndStart(spec, signal);
      },
    });
    const alloc = new FakeAllocation(1);
    const image = `gpunode-test/absent-${randomUUID().slice(0, 8)}:latest`;
    const { sup, nodeId } = fixture({ image }, { engine: counting, alloc });
    await sup.start(AbortSignal.timeout(30_000));
    const s = gpu(sup.status(), 0);
    expect(s.state).toBe(BACKOFF);
    expect(s.lastError).toBe(`image ${image} is not present on this node: pull it with \`docker pull ${image}\``);

    // Measuring that nothing happens needs time to pass: backoff 200 ms doubling, jitter >= half.
    await sleep(1_000);
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(attempts).toBeLessThanOrEqual(4);
    expect(gpu(sup.status(), 0).restarts).toBe(0); // nothing ever started, so nothing restarted

    await sup.pause([0]);
    const frozen = attempts;
    await sleep(800);
    expect(attempts).toBe(frozen);
    expect(gpu(sup.status(), 0).state).toBe(PAUSED);
    expect(await minersByGpu(nodeId)).toEqual(new Map());
  });

  it("disabled: removes leftovers, starts nothing, lists free GPUs as DISABLED, ignores resume", async () => {
    const { sup, nodeId, opts, deviceId } = fixture({ enabled: false });
    await engine.createAndStart(minerSpec({ ...opts, enabled: true }, 0, deviceId(0)));
    expect((await minersByGpu(nodeId)).size).toBe(1);

    await sup.start(AbortSignal.timeout(30_000));
    expect(await minersByGpu(nodeId)).toEqual(new Map());
    expect(sup.status().map((s) => [s.gpuIndex, s.state])).toEqual([0, 1, 2, 3].map((i) => [i, DISABLED]));
    await sup.resume([0]);
    expect(await minersByGpu(nodeId)).toEqual(new Map());
  });

  it("concurrent pause and resume on one GPU never make two containers for it", async () => {
    const { sup, nodeId } = fixture();
    const ac = new AbortController();
    const events = await watchEvents(ac.signal);
    const event = events.next;
    const ofGpu0 = (type: ContainerEvent["type"], id?: string) => (e: ContainerEvent) =>
      e.type === type && minerGpuIndex(e.labels, nodeId) === 0 && (id === undefined || e.id === id);
    try {
      await sup.start(AbortSignal.timeout(30_000));

      // Same tick: the lane runs each call against the latest wish, so the last call wins.
      await Promise.all([sup.pause([0]), sup.resume([0]), sup.pause([0]), sup.resume([0]), sup.pause([0, 1]), sup.resume([0, 1])]);
      expect((await minersByGpu(nodeId)).get(0)).toHaveLength(1);
      expect(gpu(sup.status(), 0).state).toBe(RUNNING);

      // Calls landing inside the other's engine calls: resume while a pause is removing the
      // container (after its die), pause while a resume's container is starting (after its start).
      for (let round = 0; round < 3; round++) {
        const id = gpu(sup.status(), 0).containerId;
        const paused = sup.pause([0]);
        await event(ofGpu0("die", id));
        const resumed = sup.resume([0]);
        const next = await event((e) => ofGpu0("start")(e) && e.id !== id);
        const pausedAgain = sup.pause([0]);
        await event(ofGpu0("die", next.id));
        const resumedAgain = sup.resume([0]);
        await Promise.all([paused, resumed, pausedAgain, resumedAgain]);
        const byGpu = await minersByGpu(nodeId);
        expect(byGpu.get(0)).toEqual([gpu(sup.status(), 0).containerId]);
        expect(gpu(sup.status(), 0).state).toBe(RUNNING);
      }
      const last = gpu(sup.status(), 0).containerId;
      await Promise.all([sup.resume([0]), sup.pause([0])]);
      expect((await minersByGpu(nodeId)).has(0)).toBe(false);
      expect(gpu(sup.status(), 0).state).toBe(PAUSED);

      // Replay GPU 0's starts and dies in the engine's order: never two at once.
      await event(ofGpu0("die", last));
      let running = 0;
      let maxRunning = 0;
      for (const e of events.seen.filter((x) => minerGpuIndex(x.labels, nodeId) === 0)) {
        if (e.type === "start") maxRunning = Math.max(maxRunning, ++running);
        if (e.type === "die") running--;
      }
      expect(maxRunning).toBe(1);
      expect(running).toBe(0);
    } finally {
      ac.abort();
    }
  });

  it("reconcile removes a duplicate miner of this node", async () => {
    const { sup, nodeId, opts, deviceId } = fixture();
    await sup.start(AbortSignal.timeout(30_000));
    const dup = await engine.createAndStart({ ...minerSpec(opts, 3, deviceId(3)), name: `${minerName(nodeId, 3)}-dup` });
    await sup.reconcile();
    const byGpu = await minersByGpu(nodeId);
    expect(byGpu.get(3)).toEqual([gpu(sup.status(), 3).containerId]);
    expect([...byGpu.values()].flat()).not.toContain(dup);
  });

  it("after losing the event stream, re-subscribes and reconciles: vanished miners come back, duplicates go", async () => {
    // The engine's stream, cut at will, with the next subscription held until the test lets it through.
    let cut = new AbortController();
    let gate: Promise<void> = Promise.resolve();
    let openGate = (): void => {};
    let onSubscribe = (): void => {};
    const cuttable = withOverrides(engine, {
      events: async (signal) => {
        onSubscribe();
        await gate;
        const mine = cut.signal;
        const inner = await engine.events(AbortSignal.any([signal, mine]));
        return (async function* () {
          yield* inner;
          if (!signal.aborted) throw new ContainerError("stream_lost", "cut by the test");
        })();
      },
    });
    const { sup, nodeId, opts, deviceId } = fixture({}, { engine: cuttable });
    const ac = new AbortController();
    const event = (await watchEvents(ac.signal)).next;
    try {
      await sup.start(AbortSignal.timeout(30_000));
      const before = sup.status();

      gate = new Promise((resolve) => (openGate = resolve));
      const resubscribing = new Promise<void>((resolve) => (onSubscribe = resolve));
      cut.abort();
      cut = new AbortController();
      await resubscribing;

      // Behind the supervisor's back, while it hears nothing: one miner vanishes, a duplicate appears.
      const gone = gpu(before, 1).containerId;
      await engine.remove(gone, { force: true });
      const dup = await engine.createAndStart({ ...minerSpec(opts, 2, deviceId(2)), name: `${minerName(nodeId, 2)}-dup` });
      openGate();

      await event((e) => e.type === "die" && e.id === dup);
      const s = await waitFor(sup, (x) => gpu(x, 1).state === RUNNING && gpu(x, 1).containerId !== gone, "GPU 1 back");
      expect(gpu(s, 1).restarts).toBe(1);
      const byGpu = await minersByGpu(nodeId);
      for (const i of [0, 1, 2, 3]) expect(byGpu.get(i)).toEqual([gpu(s, i).containerId]);
      for (const i of [0, 2, 3]) expect(gpu(s, i).containerId).toBe(gpu(before, i).containerId);
    } finally {
      ac.abort();
      openGate();
    }
  });
});
