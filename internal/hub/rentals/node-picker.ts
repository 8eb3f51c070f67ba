import { GpuActivity, type GpuStatus } from "../../proto/gen/gpunode/v1/gpunode.js";
import { modelMatches } from "../../rental/gpu-allocation.js";
import type { HeartbeatRecord, NodeRecord } from "../store/hub-store.js";

/** GPUs a new rental may take: healthy and idle or mining (mining yields to rentals). */
export function rentableGpus(hb: HeartbeatRecord | undefined): GpuStatus[] {
  const gpus = ((hb?.body as { gpus?: Array<GpuStatus & { activity: unknown }> } | undefined)?.gpus ?? []) as Array<GpuStatus & { activity: unknown }>;
  return gpus.filter((g) => g.healthy && isIdle(g.activity));
}

function isIdle(activity: unknown): boolean {
  return (
    activity === GpuActivity.GPU_ACTIVITY_FREE ||
    activity === GpuActivity.GPU_ACTIVITY_MINING ||
    activity === "GPU_ACTIVITY_FREE" ||
    activity === "GPU_ACTIVITY_MINING"
  );
}

export interface PickCandidate {
  node: NodeRecord;
  online: boolean;
  draining: boolean;
  heartbeat: HeartbeatRecord | undefined;
  /**
   * GPUs the hub has already promised on this node that its last heartbeat still shows free:
   * by index where the node has answered, by count where a start is still on its way.
   */
  promised: { indices: number[]; count: number };
}

export interface PickRequest {
  gpuCount: number;
  gpuModel: string;
  /** Wei per second; undefined = any price. */
  maxPricePerSecWei: bigint | undefined;
}

/** How many GPUs of the model the node could still give a new rental. */
export function gpusLeft(c: PickCandidate, gpuModel: string): number {
  const free = rentableGpus(c.heartbeat).filter((g) => modelMatches(g.name, gpuModel) && !c.promised.indices.includes(g.index));
  return free.length - c.promised.count;
}

/**
 * The cheapest online, non-draining node that fits, within the renter's price; among equal prices the
 * one with the fewest GPUs left that still fit (keeps big nodes for big asks, CPU-only nodes for CPU-only rentals).
 */
export function pickNode(candidates: PickCandidate[], req: PickRequest): NodeRecord | undefined {
  const fits = candidates
    .filter((c) => c.online && !c.draining)
    .filter((c) => req.maxPricePerSecWei === undefined || BigInt(c.node.pricePerSecWei) <= req.maxPricePerSecWei)
    .map((c) => ({ c, left: gpusLeft(c, req.gpuModel), price: BigInt(c.node.pricePerSecWei) }))
    .filter((x) => x.left >= req.gpuCount)
    .sort((a, b) => (a.price === b.price ? a.left - b.left : a.price < b.price ? -1 : 1));
  return fits[0]?.c.node;
}
