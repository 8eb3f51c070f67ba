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
  /** Counted here (its stream is here, or this hub adopted it); otherwise as another replica said. */
  own: boolean;
}

/**
 * Online/offline by counting missed heartbeats, not by comparing clocks: every interval
 * without a heartbeat is one miss, and a node's clock never decides its status.
 */
export class Presence extends EventEmitter<{ change: [nodeId: string, status: NodePresence, observed: boolean] }> {
  private readonly nodes = new Map<string, Tracked>();
  private intervalMs: number;

  constructor(private readonly opts: PresenceOptions) {
    super();
    this.intervalMs = opts.intervalMs;
  }

  heartbeat(nodeId: string): void {
    const node = this.node(nodeId);
    node.own = true;
    node.missed = 0;
    this.arm(nodeId, node);
    if (node.status !== "online") {
      node.status = "online";
      this.emit("change", nodeId, "online", false);
    }
  }

  /** What the replica that counts a node's heartbeats says about it; ignored for a node counted here. */
  observe(nodeId: string, status: NodePresence): void {
    const node = this.node(nodeId);
    if (node.own || node.status === status) return;
    node.status = status;
    this.emit("change", nodeId, status, true);
  }

  /**
   * This hub counts the node from now on, though it heard nothing from it yet (a restart, or the
   * replica that counted it died): unless a heartbeat comes, the node is offline (said again even
   * when it already was) after the usual missed beats, so that its rentals stop being billed.
   */
  adopt(nodeId: string): void {
    const node = this.node(nodeId);
    if (node.own) return;
    node.own = true;
    node.missed = 0;
    this.arm(nodeId, node);
  }

  /** Another replica counts the node now. */
  forget(nodeId: string): void {
    const node = this.nodes.get(nodeId);
    if (!node) return;
    clearInterval(node.timer);
    node.timer = undefined;
    node.own = false;
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

  private node(nodeId: string): Tracked {
    let node = this.nodes.get(nodeId);
    if (!node) this.nodes.set(nodeId, (node = { status: "offline", missed: 0, own: false }));
    return node;
  }

  private arm(nodeId: string, node: Tracked): void {
    clearInterval(node.timer);
    node.timer = setInterval(() => {
      node.missed++;
      if (node.missed < this.opts.offlineAfterMissed) return;
      clearInterval(node.timer);
      node.timer = undefined;
      node.status = "offline";
      this.emit("change", nodeId, "offline", false);
    }, this.intervalMs);
    node.timer.unref();
  }
}
