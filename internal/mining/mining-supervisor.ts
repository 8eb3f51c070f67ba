import { mkdir } from "node:fs/promises";
import type { ContainerEngine, ContainerEvent, ContainerSummary } from "../container/engine.js";
import { toCreateOptions } from "../container/create-options.js";
import { ContainerError } from "../container/errors.js";
import { workloadFilter } from "../container/labels.js";
import type { Logger } from "../log/logger.js";
import { MinerState, type MinerStatus } from "../proto/gen/gpunode/v1/gpunode.js";
import { sleep } from "../util/abort.js";
import { Backoff } from "../util/backoff.js";
import { minerDataDir, minerGpuIndex, minerName, minerSpec } from "./miner-spec.js";
import type { MiningControl } from "./mining-control.js";
import type { MiningOptions } from "./mining-options.js";
import { untilAborted } from "../util/abort.js";

export interface MiningDeps {
  engine: ContainerEngine;
  /** Healthy GPUs no rental holds (GpuAllocation). */
  allocation: { free(): number[] };
  /** The id the engine's device request takes for this GPU (index or UUID). */
  deviceId(index: number): string;
  logger: Logger;
}

/** One GPU's miner: what we want (paused) and what we know runs (containerId). */
interface GpuMiner {
  readonly index: number;
  state: MinerState;
  /** The container we started and have not seen die; "" when none. */
  containerId: string;
  restarts: number;
  lastError: string;
  /** A rental holds, or is about to take, this GPU: no miner until resume(). */
  paused: boolean;
  readonly backoff: Backoff;
  /** A pending restart; its timer converges the GPU. */
  retry: NodeJS.Timeout | undefined;
  /** The next start is a restart after a crash (counted once it starts). */
  crashed: boolean;
  startedAt: number;
  /** Container id of the last OOM event, to say so when it dies. */
  oomId: string;
  /** Every change to this GPU's containers runs on this chain, one at a time. */
  lane: Promise<void>;
}

/**
 * Idle mining: one miner container per free GPU, so a rental takes exactly its GPUs off mining and
 * nothing else is interrupted. Everything that touches one GPU's container runs serialised on that
 * GPU's lane and decides from the latest wish (paused or not, free or not) when its turn comes, so
 * concurrent pause/resume calls end in the state of the last call and never in two containers.
 *
 * Disabled (`enabled: false`): start() removes miners an earlier life left, starts none, and
 * status() lists each GPU free at start as DISABLED (so the hub can tell "mining off" from "no
 * free GPU"); pause/resume change nothing. After stopAll() every GPU reads DISABLED too.
 */
export class MiningSupervisor implements MiningControl {
  private readonly gpus = new Map<number, GpuMiner>();
  private readonly listeners = new Set<(s: MinerStatus) => void>();
  private readonly watchAbort = new AbortController();
  private watching: Promise<void> | undefined;
  private started = false;
  /** Leftovers are gone: miners may start (a resume() before that only records the wish). */
  private live = false;
  /** close(): no new miners, no more events; running ones stay. */
  private closed = false;
  /** stopAll(): mining is off for the rest of this life. */
  private halted = false;

  constructor(
    private readonly opts: MiningOptions,
    private readonly deps: MiningDeps,
  ) {
    // A spec the engine mapping refuses (reserved env, bad image name) is a configuration error:
    // say so at wiring time instead of backing off forever.
    if (opts.enabled) toCreateOptions(minerSpec(opts, 0, "0"));
  }

  /**
   * Removes miners left by an earlier daemon life (same node id label), starts a miner on every
   * free GPU and watches engine events until `signal` aborts or close(). Resolves once the first
   * miners were started (or went to BACKOFF); the watch goes on in the background.
   */
  async start(signal: AbortSignal): Promise<void> {
    if (this.started) throw new Error("MiningSupervisor.start called twice");
    this.started = true;
    const { engine, allocation, logger } = this.deps;
    const watchSignal = AbortSignal.any([signal, this.watchAbort.signal]);
    if (!this.opts.enabled) {
      await this.removeLeftovers(signal);
      for (const i of allocation.free()) this.setState(this.gpu(i), MinerState.MINER_STATE_DISABLED);
      logger.info("mining is disabled");
      return;
    }
    // Subscribe before looking, so a miner that dies right after its start is not missed.
    const sub = new AbortController();
    let events: AsyncIterable<ContainerEvent>;
    try {
      events = await engine.events(AbortSignal.any([watchSignal, sub.signal]));
      await this.removeLeftovers(signal);
    } catch (err) {
      // Nothing was started (the engine went away): a later start() may try again.
      sub.abort();
      this.started = false;
      throw err;
    }
    this.live = true;
    await Promise.all(allocation.free().map((i) => this.onLane(this.gpu(i), () => this.converge(this.gpu(i), "start"))));
    this.watching = this.watch(events, watchSignal);
  }

  async pause(indices: number[], signal?: AbortSignal): Promise<void> {
    const done = unique(indices).map((i) => {
      const m = this.gpu(i);
      m.paused = true;
      this.cancelRetry(m); // a restart waiting out its backoff must not come back on a rented GPU
      return this.onLane(m, () => this.converge(m, "pause"));
    });
    await untilAborted(Promise.all(done), signal);
  }

  async resume(indices: number[], signal?: AbortSignal): Promise<void> {
    const done = unique(indices).map((i) => {
      const m = this.gpu(i);
      m.paused = false;
      return this.onLane(m, () => this.converge(m, "resume"));
    });
    await untilAborted(Promise.all(done), signal);
  }

  status(): MinerStatus[] {
    return [...this.gpus.values()].sort((a, b) => a.index - b.index).map(snapshot);
  }

  /** Calls `listener` with a GPU's status after every change to it; returns the unsubscribe. */
  onChange(listener: (s: MinerStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops watching and restarting; leaves running miners alone (the next daemon start replaces them). */
  async close(): Promise<void> {
    this.closed = true;
    this.watchAbort.abort(new Error("mining supervisor closed"));
    for (const m of this.gpus.values()) this.cancelRetry(m);
    await this.watching;
    await Promise.all([...this.gpus.values()].map((m) => m.lane));
  }

  /** Stops and removes every miner of this node and keeps mining off (tests; an operator disabling mining). */
  async stopAll(signal?: AbortSignal): Promise<void> {
    this.halted = true;
    for (const m of this.gpus.values()) this.cancelRetry(m);
    const work = (async () => {
      await Promise.all([...this.gpus.values()].map((m) => this.onLane(m, () => this.converge(m, "stop"))));
      await this.removeLeftovers(signal);
    })();
    await untilAborted(work, signal);
  }

  /**
   * Makes the engine match what we believe, after events may have been missed (the watch calls it
   * after re-subscribing): miners of this node we did not start, or duplicates, are removed; ours
   * that vanished or died are restarted (after their backoff); free GPUs without a miner get one.
   */
  async reconcile(signal?: AbortSignal): Promise<void> {
    if (!this.live || this.halted) return;
    const listed = await this.deps.engine.list({ labels: workloadFilter(this.opts.nodeId, "miner") }, signal);
    const byGpu = new Map<number, ContainerSummary[]>();
    const unreadable: ContainerSummary[] = [];
    for (const c of listed) {
      const i = minerGpuIndex(c.labels, this.opts.nodeId);
      if (i === undefined) unreadable.push(c);
      else byGpu.set(i, [...(byGpu.get(i) ?? []), c]);
    }
    await Promise.all(unreadable.map((c) => this.removeForeign(c, "its labels name no GPU")));
    const indices = new Set([...this.gpus.keys(), ...byGpu.keys(), ...this.deps.allocation.free()]);
    const work = [...indices].map((i) => {
      const m = this.gpu(i);
      return this.onLane(m, () => this.reconcileGpu(m, byGpu.get(i) ?? []));
    });
    await untilAborted(Promise.all(work), signal);
  }

  // --- per GPU, always on its lane -------------------------------------------------------------

  /** Brings one GPU to what is wanted now. `why` only names the occasion in logs. */
  private async converge(m: GpuMiner, why: "start" | "pause" | "resume" | "retry" | "reconcile" | "stop"): Promise<void> {
    if (this.wantsMiner(m)) {
      // Closed: leave what runs, start nothing. A pending retry's timer comes back here itself.
      if (!this.live || this.closed || m.containerId || m.retry) return;
      await this.startMiner(m, why);
      return;
    }
    this.cancelRetry(m);
    if (m.containerId) {
      const id = m.containerId;
      const t0 = Date.now();
      await this.deps.engine.stop(id, this.opts.stopTimeoutSec).catch(unlessNotFound); // gone already: fine
      await this.deps.engine.remove(id, { force: true });
      m.containerId = "";
      this.deps.logger.info({ gpu: m.index, containerId: id, ms: Date.now() - t0 }, why === "stop" ? "mining stopped" : "mining paused");
    }
    this.setState(m, this.halted || !this.opts.enabled ? MinerState.MINER_STATE_DISABLED : MinerState.MINER_STATE_PAUSED);
  }

  private async startMiner(m: GpuMiner, why: string): Promise<void> {
    const { engine, logger } = this.deps;
    const spec = minerSpec(this.opts, m.index, this.deps.deviceId(m.index));
    let id: string;
    try {
      const data = minerDataDir(this.opts.dataDir, m.index);
      if (data) await mkdir(data, { recursive: true });
      id = await engine.createAndStart(spec).catch(async (err: unknown) => {
        // A namesake we left behind (its removal failed earlier) holds the name: clear it once.
        if (!(err instanceof ContainerError && err.code === "conflict") || !(await this.removeNamesake(m))) throw err;
        return engine.createAndStart(spec);
      });
    } catch (err) {
      this.backoffAfter(m, startFailure(err, this.opts.image));
      return;
    }
    m.containerId = id;
    m.startedAt = Date.now();
    if (m.crashed) {
      m.crashed = false;
      m.restarts++;
    }
    m.state = MinerState.MINER_STATE_RUNNING;
    this.changed(m);
    const msg = why === "resume" ? "mining resumed" : why === "retry" ? "miner restarted" : "mining started";
    logger.info({ gpu: m.index, containerId: id, image: this.opts.image, restarts: m.restarts }, msg);
  }

  /** The container we started died (or vanished): clean up and restart it after the GPU's backoff. */
  private async onExit(m: GpuMiner, id: string, how: string): Promise<void> {
    if (id !== m.containerId) return; // one we stopped ourselves, or an older one
    await this.deps.engine.remove(id, { force: true }).catch((err: unknown) => {
      this.deps.logger.warn({ gpu: m.index, containerId: id, err }, "could not remove a dead miner");
    });
    // Changed only now, together with the state, so status() never shows RUNNING without a container.
    m.containerId = "";
    if (!this.wantsMiner(m)) return this.converge(m, "reconcile");
    const ranMs = Date.now() - m.startedAt;
    if (ranMs >= this.opts.stableAfterMs) m.backoff.reset();
    m.crashed = true;
    const oom = m.oomId === id ? " (out of memory)" : "";
    this.backoffAfter(m, `miner ${how}${oom} after ${formatMs(ranMs)}`);
  }

  private async reconcileGpu(m: GpuMiner, listed: ContainerSummary[]): Promise<void> {
    // Under the lane nothing else creates a container for this GPU, so whatever is not the one we
    // started is a stale copy or a duplicate.
    for (const c of listed) if (c.id !== m.containerId) await this.removeForeign(c, `GPU ${m.index} already has its miner`);
    if (m.containerId) {
      // Asked, not read from the list: the list may predate the start that made this container.
      const id = m.containerId;
      const running = await this.deps.engine.inspect(id).then(
        (s) => s.running,
        (err: unknown) => unlessNotFound(err) ?? false,
      );
      if (!running) await this.onExit(m, id, "was gone when the supervisor looked again");
    }
    await this.converge(m, "reconcile");
  }

  private backoffAfter(m: GpuMiner, error: string): void {
    const delayMs = m.backoff.next();
    m.state = MinerState.MINER_STATE_BACKOFF;
    m.lastError = error;
    m.retry = setTimeout(() => {
      m.retry = undefined;
      void this.onLane(m, () => this.converge(m, "retry")).catch((err: unknown) => {
        this.deps.logger.warn({ gpu: m.index, err }, "miner retry failed");
      });
    }, delayMs);
    this.changed(m);
    this.deps.logger.warn({ gpu: m.index, delayMs, error }, "miner down; retrying after backoff");
  }

  // --- events ------------------------------------------------------------------------------------

  private async watch(first: AsyncIterable<ContainerEvent>, signal: AbortSignal): Promise<void> {
    const { engine, logger } = this.deps;
    const backoff = new Backoff(this.opts.backoff);
    let events: AsyncIterable<ContainerEvent> | undefined = first;
    while (!signal.aborted) {
      let since = Date.now();
      // Ends this subscription when reconciling after it fails, so retries do not pile up streams.
      const sub = new AbortController();
      try {
        if (!events) {
          events = await engine.events(AbortSignal.any([signal, sub.signal]));
          since = Date.now();
          await this.reconcile(signal);
          logger.info("engine event stream back; miners reconciled");
        }
        for await (const ev of events) this.onEvent(ev);
        // The engine's iterable only ends quietly on abort; anything else must not spin here.
        if (!signal.aborted) throw new ContainerError("stream_lost", "the engine's event stream ended");
      } catch (err) {
        sub.abort();
        if (signal.aborted) break;
        events = undefined;
        if (Date.now() - since >= this.opts.stableAfterMs) backoff.reset();
        const delayMs = backoff.next();
        logger.warn({ err, delayMs }, "lost the engine's event stream; re-subscribing");
        try {
          await sleep(delayMs, signal);
        } catch {
          break;
        }
      }
    }
  }

  private onEvent(ev: ContainerEvent): void {
    const index = minerGpuIndex(ev.labels, this.opts.nodeId);
    const m = index === undefined ? undefined : this.gpus.get(index);
    if (!m) return;
    if (ev.type === "oom") m.oomId = ev.id;
    if (ev.type !== "die") return;
    const how = ev.exitCode === undefined ? "exited" : `exited with code ${ev.exitCode}`;
    this.onLane(m, () => this.onExit(m, ev.id, how)).catch((err: unknown) => {
      this.deps.logger.warn({ gpu: m.index, err }, "handling a miner's exit failed");
    });
  }

  // --- helpers -----------------------------------------------------------------------------------

  private wantsMiner(m: GpuMiner): boolean {
    return this.opts.enabled && !this.halted && !m.paused && this.deps.allocation.free().includes(m.index);
  }

  /** Removes every miner of this node that no GPU of ours is running: at start, and after stopAll. */
  private async removeLeftovers(signal?: AbortSignal): Promise<void> {
    const ours = new Set([...this.gpus.values()].map((m) => m.containerId).filter(Boolean));
    const listed = await this.deps.engine.list({ labels: workloadFilter(this.opts.nodeId, "miner") }, signal);
    const stale = listed.filter((c) => !ours.has(c.id));
    await Promise.all(stale.map((c) => this.deps.engine.remove(c.id, { force: true, signal })));
    if (stale.length > 0) this.deps.logger.info({ removed: stale.map((c) => c.name) }, "removed miners left by an earlier run");
  }

  private async removeForeign(c: ContainerSummary, why: string): Promise<void> {
    await this.deps.engine.remove(c.id, { force: true });
    this.deps.logger.warn({ containerId: c.id, name: c.name, why }, "removed a miner this supervisor does not run");
  }

  /** True when a container of our name was ours (this node, this GPU) and is gone now. */
  private async removeNamesake(m: GpuMiner): Promise<boolean> {
    const name = minerName(this.opts.nodeId, m.index);
    const other = await this.deps.engine.inspect(name).catch(() => undefined);
    if (!other || minerGpuIndex(other.labels, this.opts.nodeId) !== m.index) return false;
    await this.deps.engine.remove(other.id, { force: true });
    return true;
  }

  private gpu(index: number): GpuMiner {
    let m = this.gpus.get(index);
    if (!m) {
      m = {
        index,
        state: MinerState.MINER_STATE_UNSPECIFIED,
        containerId: "",
        restarts: 0,
        lastError: "",
        paused: false,
        backoff: new Backoff(this.opts.backoff),
        retry: undefined,
        crashed: false,
        startedAt: 0,
        oomId: "",
        lane: Promise.resolve(),
      };
      this.gpus.set(index, m);
    }
    return m;
  }

  private onLane<T>(m: GpuMiner, fn: () => Promise<T>): Promise<T> {
    const run = m.lane.then(fn);
    m.lane = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private cancelRetry(m: GpuMiner): void {
    if (m.retry) clearTimeout(m.retry);
    m.retry = undefined;
  }

  private setState(m: GpuMiner, state: MinerState): void {
    if (m.state === state) return;
    m.state = state;
    this.changed(m);
  }

  private changed(m: GpuMiner): void {
    const s = snapshot(m);
    for (const l of this.listeners) l(s);
  }
}

function snapshot(m: GpuMiner): MinerStatus {
  return { gpuIndex: m.index, state: m.state, containerId: m.containerId, restarts: m.restarts, lastError: m.lastError };
}

function startFailure(err: unknown, image: string): string {
  if (!(err instanceof ContainerError)) return `miner would not start: ${String(err)}`;
  switch (err.code) {
    case "image_not_found":
      return `image ${image} is not present on this node: pull it with \`docker pull ${image}\``;
    case "engine_unavailable":
      return `the container engine does not answer: ${err.message}`;
    default:
      return `miner would not start (${err.code}): ${err.message}`;
  }
}

/** For .catch(): swallows "no such container" (undefined), rethrows the rest. */
function unlessNotFound(err: unknown): undefined {
  if (err instanceof ContainerError && err.code === "not_found") return undefined;
  throw err;
}

function unique(indices: number[]): number[] {
  return [...new Set(indices)];
}

function formatMs(ms: number): string {
  return ms < 10_000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
}
