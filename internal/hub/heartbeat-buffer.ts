import type { Logger } from "pino";
import { gpuActivityToJSON, type Heartbeat } from "../proto/gen/gpunode/v1/gpunode.js";
import type { HeartbeatRecord, HubStore } from "./store/hub-store.js";

export interface HeartbeatBufferOptions {
  flushIntervalMs: number;
}

/**
 * Keeps the latest heartbeat of every node in memory and writes them in one batch per
 * interval, so a large fleet costs one transaction per flush rather than one per heartbeat.
 */
export class HeartbeatBuffer {
  private readonly latest = new Map<string, HeartbeatRecord>();
  private dirty = new Set<string>();
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly opts: HeartbeatBufferOptions,
    private readonly deps: { store: HubStore; logger: Logger },
  ) {}

  /** Loads what the store kept, so the read API answers right after a restart. */
  async start(): Promise<void> {
    for (const rec of await this.deps.store.lastHeartbeats()) this.latest.set(rec.nodeId, rec);
    this.timer = setInterval(() => void this.flush(), this.opts.flushIntervalMs);
    this.timer.unref();
  }

  record(hb: Heartbeat, receivedAt = new Date()): void {
    this.remember(hb, receivedAt);
    this.dirty.add(hb.nodeId);
  }

  /** A heartbeat another replica received (and writes): kept for this one's views, not written again. */
  remember(hb: Heartbeat, receivedAt: Date): void {
    this.latest.set(hb.nodeId, { nodeId: hb.nodeId, seq: hb.seq, receivedAt, body: heartbeatView(hb) });
  }

  get(nodeId: string): HeartbeatRecord | undefined {
    return this.latest.get(nodeId);
  }

  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.dirty.size === 0) return;
      const ids = this.dirty;
      this.dirty = new Set();
      const batch = [...ids].flatMap((id) => this.latest.get(id) ?? []);
      try {
        await this.deps.store.saveHeartbeats(batch);
      } catch (err) {
        for (const id of ids) this.dirty.add(id);
        this.deps.logger.error({ err, nodes: batch.length }, "writing heartbeats failed; will retry");
      }
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}

/** Every field, defaults included (proto3 JSON would drop `healthy: false` and GPU index 0), enums by name. */
export function heartbeatView(hb: Heartbeat) {
  return { ...hb, gpus: hb.gpus.map((g) => ({ ...g, activity: gpuActivityToJSON(g.activity) })) };
}
