import type { PullProgress } from "../container/engine.js";

/** One image's pull as a whole: what a renter wants to see (bytes and layers), not the engine's per-layer chatter. */
export interface PullTotals {
  status: string;
  currentBytes: number;
  totalBytes: number;
  layersDone: number;
  layersTotal: number;
}

const LAYER_STATUSES = new Set(["Pulling fs layer", "Waiting", "Downloading", "Verifying Checksum", "Download complete", "Extracting", "Pull complete", "Already exists"]);

interface Layer {
  current: number;
  total: number;
  done: boolean;
}

/**
 * Totals the engine's pull events. A layer counts once it is named; its size once the engine knows
 * it ("Downloading" carries it); it is done at "Download complete" for its bytes and at "Pull
 * complete" (or "Already exists") for the layer count.
 */
export class PullTotaller {
  private readonly layers = new Map<string, Layer>();
  private status = "Waiting";

  add(p: PullProgress): void {
    this.status = p.status || this.status;
    // "latest: Pulling from ..." carries the tag as its id: only layer events name layers.
    if (!p.layer || !LAYER_STATUSES.has(p.status)) return;
    const layer = this.layers.get(p.layer) ?? { current: 0, total: 0, done: false };
    this.layers.set(p.layer, layer);
    switch (p.status) {
      case "Downloading":
        layer.total = p.totalBytes ?? layer.total;
        layer.current = p.currentBytes ?? layer.current;
        break;
      case "Download complete":
      case "Verifying Checksum":
        layer.current = layer.total;
        break;
      case "Pull complete":
      case "Already exists":
        layer.current = layer.total;
        layer.done = true;
        break;
    }
  }

  get totals(): PullTotals {
    let currentBytes = 0;
    let totalBytes = 0;
    let layersDone = 0;
    for (const l of this.layers.values()) {
      currentBytes += Math.min(l.current, l.total || l.current);
      totalBytes += l.total;
      if (l.done) layersDone++;
    }
    return { status: this.status, currentBytes, totalBytes, layersDone, layersTotal: this.layers.size };
  }
}
