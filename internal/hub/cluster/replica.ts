import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import type { ClusterStore, NodeOwner } from "../store/cluster-store.js";
import { PollLoop } from "../../util/poll-loop.js";
import { instanceName } from "./lease.js";

export interface ReplicaOptions {
  /** A replica that stops renewing is dead after this long: its nodes are adopted by another. */
  ttlMs: number;
  renewMs: number;
  /** The whole ownership table is read again this often, whatever the channel said. */
  resyncMs: number;
}

export const defaultReplicaOptions: ReplicaOptions = { ttlMs: 6_000, renewMs: 2_000, resyncMs: 10_000 };

const ABANDONED_REQUEST_MS = 10 * 60_000;

type Link = Omit<NodeOwner, "nodeId">;

/**
 * This hub as one replica among several on one PostgreSQL. Every node has one owner: the replica that
 * holds its stream (the latest stream wins), or the one that adopted it when its owner died. The owner
 * alone runs that node's rentals (starts, stops, limits, offline billing); the others ask it. The
 * table in the database is the truth; what other replicas say on the channel keeps this copy fresh
 * between reads of it.
 */
export class Replica extends EventEmitter<{
  /** The node's stream opened here. */
  claimed: [nodeId: string];
  /** Nodes nobody ran (their replica died, or none ever did): this replica runs them until they connect somewhere. */
  adopted: [nodeIds: string[]];
  lost: [nodeId: string];
  replicaGone: [replicaId: string];
}> {
  readonly id = instanceName();
  private readonly startedAtMs = Date.now();
  private readonly owned = new Set<string>();
  private readonly links = new Map<string, Link>();
  private live = new Set<string>();
  private lastResync = 0;
  private readonly loop: PollLoop;

  constructor(
    private readonly opts: ReplicaOptions,
    private readonly deps: { store: ClusterStore; logger: Logger; nodesWithActiveRentals: () => Promise<string[]> },
  ) {
    super();
    this.loop = new PollLoop({ intervalMs: opts.renewMs, maxBackoffMs: opts.renewMs }, async () => (await this.tick(), false), (err) =>
      deps.logger.warn({ err: (err as Error).message }, "could not renew this replica; its nodes go to another once its lease runs out"),
    );
  }

  /** Joins: registers, reads who owns what, and takes nodes nobody runs. */
  async start(): Promise<void> {
    await this.tick();
    const unowned = (await this.deps.nodesWithActiveRentals()).filter((id) => !this.links.has(id));
    this.adopt(await this.deps.store.adoptUnowned(this.id, unowned));
    this.loop.start();
  }

  owns(nodeId: string): boolean {
    return this.owned.has(nodeId);
  }

  /**
   * The live replica that runs the node's rentals, when it is not this one. Read from the table, not
   * from what the channel said: a stream that moved a moment ago is claimed there before its node is
   * welcomed, while the word of it may still be on its way.
   */
  async remoteOwner(nodeId: string): Promise<string | undefined> {
    const owner = await this.deps.store.liveOwner(nodeId, Date.now());
    return owner === this.id ? undefined : owner;
  }

  /** Whether any other replica is alive to hear this one. */
  hasPeers(): boolean {
    for (const id of this.live) if (id !== this.id) return true;
    return false;
  }

  /** Whether the node's stream is open on a live replica (this one included). */
  isConnected(nodeId: string): boolean {
    const link = this.links.get(nodeId);
    return link !== undefined && link.connected && (link.replicaId === this.id || this.live.has(link.replicaId));
  }

  isDraining(nodeId: string): boolean {
    return this.links.get(nodeId)?.draining ?? false;
  }

  /** The node's stream opened here: this replica owns it now. */
  async claim(nodeId: string, draining: boolean): Promise<void> {
    const link = { replicaId: this.id, connected: true, draining };
    await this.deps.store.claimNode({ nodeId, ...link });
    this.links.set(nodeId, link);
    if (this.owned.has(nodeId)) return;
    this.owned.add(nodeId);
    this.emit("claimed", nodeId);
  }

  /** The stream of a node this replica owns closed, or it started or stopped draining. False when another replica owns it now. */
  async updateLink(nodeId: string, connected: boolean, draining: boolean): Promise<boolean> {
    if (!this.owned.has(nodeId)) return false;
    const link = { replicaId: this.id, connected, draining };
    const still = await this.deps.store.updateLink({ nodeId, ...link });
    if (still) this.links.set(nodeId, link);
    else await this.resync();
    return still;
  }

  /** Another replica said it owns the node now, or how its link is. */
  heard(from: string, nodeId: string, link: { connected: boolean; draining: boolean }): void {
    this.links.set(nodeId, { replicaId: from, ...link });
    if (this.owned.delete(nodeId)) this.emit("lost", nodeId);
  }

  async close(): Promise<void> {
    await this.loop.close();
    await this.deps.store.removeReplica(this.id).catch(() => undefined);
  }

  private async tick(): Promise<void> {
    const now = Date.now();
    await this.deps.store.renewReplica(this.id, this.startedAtMs, now + this.opts.ttlMs);
    const live = new Set(await this.deps.store.liveReplicas(now));
    for (const gone of this.live) if (!live.has(gone)) this.emit("replicaGone", gone);
    this.live = live;
    const orphans = await this.deps.store.adoptOrphans(this.id, now);
    if (orphans.length > 0) this.deps.logger.info({ nodes: orphans.length }, "adopted the nodes of a replica that died: their rentals run here until each reconnects");
    this.adopt(orphans);
    if (now - this.lastResync >= this.opts.resyncMs) {
      await this.resync();
      // A request whose asker gave up long ago (it died waiting): nobody reads its answer.
      await this.deps.store.deleteRequestsBefore(now - ABANDONED_REQUEST_MS);
    }
  }

  /** Reads the whole table: what the channel missed (while it was down, or lost) is set right. */
  async resync(): Promise<void> {
    this.lastResync = Date.now();
    const owners = await this.deps.store.owners();
    const mine = new Set<string>();
    for (const o of owners) {
      this.links.set(o.nodeId, { replicaId: o.replicaId, connected: o.connected, draining: o.draining });
      if (o.replicaId === this.id) mine.add(o.nodeId);
    }
    for (const nodeId of [...this.owned]) if (!mine.has(nodeId) && this.owned.delete(nodeId)) this.emit("lost", nodeId);
    this.adopt([...mine]);
  }

  /** Nodes that are this replica's now without a stream here (their link says whether one is open). */
  private adopt(nodeIds: string[]): void {
    const fresh: string[] = [];
    for (const nodeId of nodeIds) {
      const link = this.links.get(nodeId);
      this.links.set(nodeId, { replicaId: this.id, connected: link?.replicaId === this.id && link.connected, draining: link?.draining ?? false });
      if (this.owned.has(nodeId)) continue;
      this.owned.add(nodeId);
      fresh.push(nodeId);
    }
    if (fresh.length > 0) this.emit("adopted", fresh);
  }
}
