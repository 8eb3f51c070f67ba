import type { HubChannel } from "./channel/hub-channel.js";
import type { GpuStatus } from "../proto/gen/gpunode/v1/gpunode.js";

export interface GpuHistoryOptions {
  /** How far back the history reaches. */
  windowMs: number;
  /** Most points kept per GPU, whatever the heartbeat interval: fast heartbeats are averaged into windowMs / maxPoints buckets. */
  maxPoints: number;
  /** GPUs of one node beyond this many are not kept (a node's heartbeat is its own word). */
  maxGpusPerNode: number;
}

export const defaultGpuHistoryOptions: GpuHistoryOptions = { windowMs: 3_600_000, maxPoints: 240, maxGpusPerNode: 64 };

/** One GPU's samples, column by column (what uPlot takes): `t` in unix ms, oldest first. */
export interface GpuSamples {
  t: number[];
  utilizationGpuPercent: number[];
  memoryUsedBytes: number[];
  temperatureCelsius: number[];
}

export interface GpuHistoryEntry {
  index: number;
  uuid: string;
  name: string;
  memoryTotalBytes: number;
  samples: GpuSamples;
}

/** GET /v1/nodes/{id}/gpu-history. */
export interface NodeGpuHistory {
  nodeId: string;
  /** The window, unix ms: every sample lies in [from, to]. */
  from: number;
  to: number;
  gpus: GpuHistoryEntry[];
}

/** What one heartbeat says of one GPU (GpuStatus's live numbers). */
export type GpuReading = Pick<GpuStatus, "index" | "uuid" | "name" | "error" | "utilizationGpuPercent" | "memoryTotalBytes" | "memoryUsedBytes" | "temperatureCelsius">;

/** A GPU's arrays start this small and double as needed: a GPU heartbeating every 30 s has 120 points an hour. */
const INITIAL_POINTS = 32;

/**
 * One GPU's samples in typed arrays that grow up to `maxPoints`: live points are [head, tail).
 * Samples are kept as they came while they fit; when the arrays are full, points older than the
 * window go first, then points sharing a bucket of windowMs / maxPoints are merged (their mean, at
 * the bucket's latest time), so an hour always fits whatever the interval. About 28 bytes a point.
 */
class GpuSeries {
  private t: Float64Array;
  private util: Float32Array;
  /** Bytes: beyond a Float32's exact integers. */
  private mem: Float64Array;
  private temp: Float32Array;
  /** How many samples each point stands for (the weight of its mean). */
  private weight: Float32Array;
  private head = 0;
  private tail = 0;

  constructor(
    private readonly maxPoints: number,
    private readonly bucketMs: number,
  ) {
    const n = Math.min(INITIAL_POINTS, maxPoints);
    this.t = new Float64Array(n);
    this.util = new Float32Array(n);
    this.mem = new Float64Array(n);
    this.temp = new Float32Array(n);
    this.weight = new Float32Array(n);
  }

  get size(): number {
    return this.tail - this.head;
  }

  get newest(): number {
    return this.size > 0 ? (this.t[this.tail - 1] ?? 0) : Number.NEGATIVE_INFINITY;
  }

  push(at: number, util: number, mem: number, temp: number, cutoff: number): void {
    // The hub's clock stepped back: the series stays ordered.
    const time = Math.max(at, this.newest);
    this.expire(cutoff);
    if (this.tail === this.t.length) this.makeRoom();
    const i = this.tail++;
    this.t[i] = time;
    this.util[i] = util;
    this.mem[i] = mem;
    this.temp[i] = temp;
    this.weight[i] = 1;
  }

  /** Drops the points before `cutoff`. */
  expire(cutoff: number): void {
    while (this.head < this.tail && (this.t[this.head] ?? 0) < cutoff) this.head++;
    if (this.head === this.tail) this.head = this.tail = 0;
  }

  samples(): GpuSamples {
    const out: GpuSamples = { t: [], utilizationGpuPercent: [], memoryUsedBytes: [], temperatureCelsius: [] };
    for (let i = this.head; i < this.tail; i++) {
      out.t.push(this.t[i] ?? 0);
      // Raw samples are whole numbers and come back as sent; merged ones are means.
      out.utilizationGpuPercent.push(tenths(this.util[i] ?? 0));
      out.memoryUsedBytes.push(Math.round(this.mem[i] ?? 0));
      out.temperatureCelsius.push(tenths(this.temp[i] ?? 0));
    }
    return out;
  }

  /** Moves the points to the front; if that frees nothing, grows (up to maxPoints), merges points that share a bucket, or at last drops the oldest. */
  private makeRoom(): void {
    this.shiftToFront();
    if (this.tail < this.t.length) return;
    if (this.t.length < this.maxPoints) return this.grow(Math.min(this.maxPoints, this.t.length * 2));
    let w = -1;
    let bucket = Number.NaN;
    for (let r = 0; r < this.tail; r++) {
      const b = Math.floor((this.t[r] ?? 0) / this.bucketMs);
      if (w >= 0 && b === bucket) {
        const a = this.weight[w] ?? 1;
        const c = this.weight[r] ?? 1;
        const mean = (x: Float32Array | Float64Array): number => ((x[w] ?? 0) * a + (x[r] ?? 0) * c) / (a + c);
        this.util[w] = mean(this.util);
        this.mem[w] = mean(this.mem);
        this.temp[w] = mean(this.temp);
        this.t[w] = this.t[r] ?? 0;
        this.weight[w] = a + c;
        continue;
      }
      w++;
      bucket = b;
      this.t[w] = this.t[r] ?? 0;
      this.util[w] = this.util[r] ?? 0;
      this.mem[w] = this.mem[r] ?? 0;
      this.temp[w] = this.temp[r] ?? 0;
      this.weight[w] = this.weight[r] ?? 1;
    }
    this.tail = w + 1;
    if (this.tail < this.t.length) return;
    this.head = 1;
    this.shiftToFront();
  }

  private grow(size: number): void {
    const grown = <A extends Float32Array | Float64Array>(a: A, make: (n: number) => A): A => {
      const b = make(size);
      b.set(a.subarray(0, this.tail));
      return b;
    };
    this.t = grown(this.t, (n) => new Float64Array(n));
    this.util = grown(this.util, (n) => new Float32Array(n));
    this.mem = grown(this.mem, (n) => new Float64Array(n));
    this.temp = grown(this.temp, (n) => new Float32Array(n));
    this.weight = grown(this.weight, (n) => new Float32Array(n));
  }

  private shiftToFront(): void {
    if (this.head === 0) return;
    for (const a of [this.t, this.util, this.mem, this.temp, this.weight]) a.copyWithin(0, this.head, this.tail);
    this.tail -= this.head;
    this.head = 0;
  }
}

const tenths = (v: number): number => Math.round(v * 10) / 10;

interface GpuTrack {
  uuid: string;
  name: string;
  memoryTotalBytes: number;
  series: GpuSeries;
}

interface NodeTrack {
  gpus: Map<number, GpuTrack>;
  lastAt: number;
}

/**
 * The last hour of every GPU's utilisation, memory and temperature, per node, in memory: fed by
 * the nodes' heartbeats (HubChannel's "heartbeat" event), at the hub's clock. Bounded: a fixed
 * number of points per GPU, a cap on GPUs per node, and a node that has not reported for the whole
 * window (gone, deleted, offline) is forgotten. Not kept across a hub restart.
 */
export class GpuHistory {
  private readonly nodes = new Map<string, NodeTrack>();
  private lastSweep: number;

  constructor(
    private readonly opts: GpuHistoryOptions = defaultGpuHistoryOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.lastSweep = now();
  }

  /** Listens to the channel's heartbeats; returns the way to stop. */
  attach(events: HubChannel["events"]): () => void {
    const on = (nodeId: string, hb: { gpus: readonly GpuReading[] }): void => this.record(nodeId, hb.gpus);
    events.on("heartbeat", on);
    return () => void events.off("heartbeat", on);
  }

  /**
   * One heartbeat's GPUs, at `at` (now). A GPU that could not be read (its error set, its numbers
   * zeroed) adds no sample: a zero would read as an idle GPU. A new UUID at an index starts afresh.
   */
  record(nodeId: string, gpus: readonly GpuReading[], at = this.now()): void {
    this.sweep(at);
    let node = this.nodes.get(nodeId);
    if (!node && gpus.length === 0) return;
    if (!node) {
      node = { gpus: new Map(), lastAt: at };
      this.nodes.set(nodeId, node);
    }
    node.lastAt = Math.max(node.lastAt, at);
    const cutoff = at - this.opts.windowMs;
    for (const g of gpus) {
      if (g.error || !readable(g)) continue;
      let track = node.gpus.get(g.index);
      if (!track || track.uuid !== g.uuid) {
        if (!track && node.gpus.size >= this.opts.maxGpusPerNode) continue;
        track = { uuid: g.uuid, name: g.name, memoryTotalBytes: g.memoryTotalBytes, series: new GpuSeries(this.opts.maxPoints, this.opts.windowMs / this.opts.maxPoints) };
        node.gpus.set(g.index, track);
      }
      track.name = g.name;
      track.memoryTotalBytes = g.memoryTotalBytes;
      track.series.push(at, g.utilizationGpuPercent, g.memoryUsedBytes, g.temperatureCelsius, cutoff);
    }
  }

  /** The node's GPUs that have samples in the window, by index; none for a node never heard of. */
  get(nodeId: string): NodeGpuHistory {
    const to = this.now();
    const from = to - this.opts.windowMs;
    this.sweep(to);
    const gpus: GpuHistoryEntry[] = [];
    const node = this.nodes.get(nodeId);
    for (const [index, g] of [...(node?.gpus ?? [])].sort(([a], [b]) => a - b)) {
      g.series.expire(from);
      if (g.series.size === 0) continue;
      gpus.push({ index, uuid: g.uuid, name: g.name, memoryTotalBytes: g.memoryTotalBytes, samples: g.series.samples() });
    }
    return { nodeId, from, to, gpus };
  }

  /** Nodes with history held (for tests and metrics). */
  get nodeCount(): number {
    return this.nodes.size;
  }

  /** At most every tenth of the window: forgets nodes silent for the whole window, and GPUs no longer reported. */
  private sweep(now: number): void {
    if (now - this.lastSweep < this.opts.windowMs / 10) return;
    this.lastSweep = now;
    const cutoff = now - this.opts.windowMs;
    for (const [id, node] of this.nodes) {
      if (node.lastAt < cutoff) {
        this.nodes.delete(id);
        continue;
      }
      for (const [index, g] of node.gpus) if (g.series.newest < cutoff) node.gpus.delete(index);
    }
  }
}

function readable(g: GpuReading): boolean {
  return Number.isFinite(g.index) && Number.isFinite(g.utilizationGpuPercent) && Number.isFinite(g.memoryUsedBytes) && Number.isFinite(g.temperatureCelsius);
}
