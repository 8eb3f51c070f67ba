import { heartbeatSchema, type OwnerNodeView, type PublicHeartbeatBody, publicHeartbeatSchema, type PublicNodeView } from "../../hubapi/nodes.js";
import type { HubChannel } from "../channel/hub-channel.js";
import { nodeStatus } from "../dashboard/node-live-view.js";
import type { HeartbeatBuffer } from "../heartbeat-buffer.js";
import type { Presence } from "../presence.js";
import type { NodeRecord } from "../store/hub-store.js";
import { type ToolkitPolicy, toolkitRefusal } from "../rentals/toolkit-policy.js";
import type { ReleaseCatalog } from "../releases/release-store.js";

export interface NodeViewSources {
  presence: Presence;
  heartbeats: HeartbeatBuffer;
  channel: Pick<HubChannel, "isConnected" | "isDraining">;
  toolkit: ToolkitPolicy;
  /** The recommended daemon version, to say which nodes are behind it; absent: none are. */
  releases?: Pick<ReleaseCatalog, "behind">;
}

/** The heartbeat as stored, cut down to its public part (internal/hubapi's PublicHeartbeat); null when it is not a heartbeat at all. */
export function publicHeartbeatBody(body: unknown): PublicHeartbeatBody | null {
  const parsed = publicHeartbeatSchema.safeParse(body);
  return parsed.success ? parsed.data : null;
}

/** A node as the marketplace shows it to anyone, signed in or not. */
export function publicNodeView(n: NodeRecord, src: NodeViewSources): PublicNodeView {
  const hb = src.heartbeats.get(n.id);
  return {
    id: n.id,
    wallet: n.wallet,
    host: n.host,
    pricePerSecWei: n.pricePerSecWei,
    // "draining" while online and taking no new rentals (node-daemon drain); offline is offline.
    status: nodeStatus(src.presence.status(n.id), src.channel.isDraining(n.id)),
    draining: src.channel.isDraining(n.id),
    connected: src.channel.isConnected(n.id),
    gpus: n.gpus,
    versions: n.versions,
    registeredAt: n.registeredAt.toISOString(),
    updatedAt: n.updatedAt.toISOString(),
    lastHeartbeat: hb ? { seq: hb.seq, receivedAt: hb.receivedAt.toISOString(), body: publicHeartbeatBody(hb.body) } : null,
    /** Why the hub places no rental here (an unsafe container toolkit); null when it does. */
    refusesRentals: toolkitRefusal(n, src.toolkit),
    daemonVersion: n.versions.daemon || null,
    daemonBehind: src.releases?.behind(n.versions.daemon) ?? null,
  };
}

/**
 * A node as its own provider sees it: its API port, notices, certificate and the whole heartbeat
 * (rentals, miners); a stored heartbeat that is not whole (an older daemon's) shows its public part.
 */
export function ownerNodeView(n: NodeRecord, src: NodeViewSources): OwnerNodeView {
  const hb = src.heartbeats.get(n.id);
  const whole = hb && heartbeatSchema.safeParse(hb.body);
  return {
    ...publicNodeView(n, src),
    apiPort: n.apiPort,
    notices: n.notices,
    certificate: { serial: n.certSerial, notAfter: n.certNotAfter.toISOString() },
    lastHeartbeat: hb ? { seq: hb.seq, receivedAt: hb.receivedAt.toISOString(), body: whole?.success ? whole.data : publicHeartbeatBody(hb.body) } : null,
  };
}

/** The owner's view for the node's own wallet, the public one for everyone else. */
export function nodeViewFor(viewer: string | null, n: NodeRecord, src: NodeViewSources): PublicNodeView | OwnerNodeView {
  return viewer !== null && viewer.toLowerCase() === n.wallet.toLowerCase() ? ownerNodeView(n, src) : publicNodeView(n, src);
}
