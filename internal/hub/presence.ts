import { EventEmitter } from "node:events";

export type NodePresence = "online" | "offline";

export interface PresenceOptions {
  intervalMs: number;
  /** Heartbeats missed in a row before a node is offline. */
  offlineAfterMissed: number;
}

interface Tracked {
  status: NodePresence;
  missed: number;
  timer?: NodeJS.Timeout;
}

/**
 * Online/offline by counting missed heartbeats, not by comparing clocks: every interval
 * without a heartbeat is one miss, and a node's clock never decides its status.
 */
export class Presence extends EventEmitter<{ change: [nodeId: string, status: NodePresence] }> {
  private readonly nodes = new Map<string, Tracked>();
  private intervalMs: number;

  constructor(private readonly opts: PresenceOptions) {
    super();
    this.intervalMs = opts.intervalMs;
  }

  heartbeat(nodeId: string): void {
    const node = this.nodes.get(nodeId) ?? { status: "offline" as NodePresence, missed: 0 };
    this.nodes.set(nodeId, node);
    node.missed = 0;
    this.arm(nodeId, node);
    if (node.status !== "online") {
      node.status = "online";
      this.emit("change", nodeId, "online");
    }
  }

  status(nodeId: string): NodePresence {
    return this.nodes.get(nodeId)?.status ?? "offline";
  }

  onlineCount(): number {
    let n = 0;
    for (const node of this.nodes.values()) if (node.status === "online") n++;
    return n;
  }

  missed(nodeId: string): number {
    return this.nodes.get(nodeId)?.missed ?? 0;
  }

  setIntervalMs(ms: number): void {
    this.intervalMs = ms;
  }

  close(): void {
    for (const node of this.nodes.values()) clearInterval(node.timer);
    this.nodes.clear();
  }

  private arm(nodeId: string, node: Tracked): void {
    clearInterval(node.timer);
    node.timer = setInterval(() => {
      node.missed++;
      if (node.missed < this.opts.offlineAfterMissed) return;
      clearInterval(node.timer);
      node.timer = undefined;
      node.status = "offline";
      this.emit("change", nodeId, "offline");
    }, this.intervalMs);
    node.timer.unref();
  }
}
