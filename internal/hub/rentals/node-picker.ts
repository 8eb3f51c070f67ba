import { GpuActivity, type GpuStatus } from "../../proto/gen/gpunode/v1/gpunode.js";
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
}

/** The online, non-draining node with the fewest rentable GPUs that still fit (keeps big nodes for big asks). */
export function pickNode(candidates: PickCandidate[], gpuCount: number, gpuModel: string): NodeRecord | undefined {
  const model = gpuModel.trim().toLowerCase();
  const fits = candidates
    .filter((c) => c.online && !c.draining)
    .map((c) => ({ c, free: rentableGpus(c.heartbeat).filter((g) => model === "" || g.name.toLowerCase().includes(model)).length }))
    .filter((x) => x.free >= gpuCount)
    .sort((a, b) => a.free - b.free);
  return fits[0]?.c.node;
}
