import { z } from "zod";
import type { GpuLive, GpuLiveState, NodeLive } from "../../hubapi/events.js";
import type { Presence, NodePresence } from "../presence.js";
import type { HeartbeatRecord, NodeRecord } from "../store/hub-store.js";

/** Online and taking no new rentals (node-daemon drain) is "draining"; offline is offline. */
export type NodeLiveStatus = NodePresence | "draining";

export function nodeStatus(presence: NodePresence, draining: boolean): NodeLiveStatus {
  return presence === "online" && draining ? "draining" : presence;
}

// The stored heartbeat body is the proto JSON form written by heartbeatView(); read it defensively.
const heartbeatGpuSchema = z.object({
  index: z.number().default(0),
  uuid: z.string().default(""),
  name: z.string().default(""),
  activity: z.string().default("GPU_ACTIVITY_UNSPECIFIED"),
  error: z.string().default(""),
  utilizationGpuPercent: z.number().default(0),
  memoryTotalBytes: z.number().default(0),
  memoryUsedBytes: z.number().default(0),
  temperatureCelsius: z.number().default(0),
  powerDrawMilliwatts: z.number().default(0),
  powerLimitMilliwatts: z.number().default(0),
});
const heartbeatBodySchema = z.object({ gpus: z.array(heartbeatGpuSchema).default([]) });

const STATES: Record<string, GpuLiveState> = {
  GPU_ACTIVITY_FREE: "free",
  GPU_ACTIVITY_MINING: "mining",
  GPU_ACTIVITY_RENTED: "rented",
  GPU_ACTIVITY_UNHEALTHY: "unhealthy",
};

export function nodeLiveView(node: NodeRecord, presence: Pick<Presence, "status">, hb: HeartbeatRecord | undefined, draining: boolean, refusesRentals: string | null = null, daemonBehind: string | null = null): NodeLive {
  const parsed = hb ? heartbeatBodySchema.safeParse(hb.body) : undefined;
  const reported = parsed?.success ? parsed.data.gpus : undefined;
  const gpus: GpuLive[] = reported
    ? reported.map((g) => ({
        index: g.index,
        uuid: g.uuid,
        model: g.name,
        state: STATES[g.activity] ?? "unknown",
        utilizationPercent: g.utilizationGpuPercent,
        memoryUsedBytes: g.memoryUsedBytes,
        memoryTotalBytes: g.memoryTotalBytes,
        temperatureCelsius: g.temperatureCelsius,
        powerWatts: g.powerDrawMilliwatts / 1000,
        powerLimitWatts: g.powerLimitMilliwatts / 1000,
        error: g.error || null,
      }))
    : node.gpus.map((g) => ({
        index: g.index,
        uuid: g.uuid,
        model: g.name,
        state: "unknown",
        utilizationPercent: null,
        memoryUsedBytes: null,
        memoryTotalBytes: g.memoryTotalBytes,
        temperatureCelsius: null,
        powerWatts: null,
        powerLimitWatts: null,
        error: null,
      }));
  return {
    id: node.id,
    wallet: node.wallet,
    host: node.host,
    status: nodeStatus(presence.status(node.id), draining),
    pricePerSecWei: node.pricePerSecWei,
    lastHeartbeatAt: hb ? hb.receivedAt.toISOString() : null,
    refusesRentals,
    daemonVersion: node.versions.daemon || null,
    daemonBehind,
    gpus,
  };
}
