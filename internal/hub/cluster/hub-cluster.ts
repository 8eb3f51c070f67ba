import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import { Heartbeat } from "../../proto/gen/gpunode/v1/gpunode.js";
import type { HubChannel, NodeReports, StreamOwnership } from "../channel/hub-channel.js";
import type { HeartbeatBuffer } from "../heartbeat-buffer.js";
import type { Presence } from "../presence.js";
import type { BookRequest, NodeOwners } from "../rentals/book-requests.js";
import type { RentalBook } from "../rentals/rental-book.js";
import type { HubStore } from "../store/hub-store.js";
import type { BusMessage } from "./bus-messages.js";
import { OwnerRequests } from "./owner-requests.js";
import { PgBus } from "./pg-bus.js";
import { defaultReplicaOptions, Replica, type ReplicaOptions } from "./replica.js";

/** A heartbeat larger than this goes to the other replicas without its rental list (they do not act on it). */
const HEARTBEAT_RELAY_BYTES = 5_000;

export interface HubClusterParts {
  channel: HubChannel;
  presence: Presence;
  heartbeats: HeartbeatBuffer;
  book: RentalBook;
}

/**
 * This hub as a replica of several on one PostgreSQL, put together: its row and node ownership
 * (Replica), the channel between replicas (PgBus), and requests for other replicas' nodes
 * (OwnerRequests). What a node reports on a stream held here is acted on here and told to the other
 * replicas, so that presence, node views, rentals and the live event stream read the same on each.
 */
export class HubCluster implements StreamOwnership, NodeOwners {
  readonly replica: Replica;
  /** Heartbeats and draining of every node, wherever its stream is: what views and live streams follow. */
  readonly fleet = new EventEmitter<NodeReports>();
  private readonly bus: PgBus;
  private readonly requests: OwnerRequests;
  private parts: HubClusterParts | undefined;

  constructor(
    opts: { databaseUrl: string; caFingerprint: string; replica?: ReplicaOptions },
    private readonly deps: { store: HubStore; logger: Logger },
  ) {
    const logger = deps.logger.child({ part: "cluster" });
    this.replica = new Replica(opts.replica ?? defaultReplicaOptions, { store: deps.store.cluster, logger, nodesWithActiveRentals: () => this.parts?.book.nodesWithActiveRentals() ?? Promise.resolve([]) });
    const channel = `rental_hub_${opts.caFingerprint.replace(/[^0-9a-f]/gi, "").slice(0, 24).toLowerCase()}`;
    this.bus = new PgBus({ databaseUrl: opts.databaseUrl, channel, replicaId: this.replica.id }, { store: deps.store.cluster, logger });
    this.requests = new OwnerRequests({ replicaId: this.replica.id, store: deps.store.cluster, publish: (m) => this.bus.publish(m), logger });
  }

  /** Listens before anything is said: nothing another replica says after this is missed. */
  async listen(): Promise<void> {
    await this.bus.start();
  }

  /** Joins once the hub's parts run: takes the nodes nobody runs, and keeps both ways in step. */
  async join(parts: HubClusterParts): Promise<void> {
    this.parts = parts;
    const { channel, presence, book } = parts;
    this.bus.on("message", (from, m) => this.onMessage(from, m));
    this.bus.on("reset", () => void this.replica.resync().catch((err: unknown) => this.deps.logger.warn({ err }, "could not read node ownership again")));
    this.replica.on("claimed", (nodeId) => book.armNode(nodeId));
    this.replica.on("adopted", (nodeIds) => {
      for (const nodeId of nodeIds) presence.adopt(nodeId);
      void book.adoptNodes(nodeIds).catch((err: unknown) => this.deps.logger.error({ err, nodes: nodeIds.length }, "could not take over the rentals of adopted nodes"));
    });
    this.replica.on("lost", (nodeId) => {
      channel.release(nodeId);
      presence.forget(nodeId);
      book.disownNode(nodeId);
    });
    this.replica.on("replicaGone", (id) => this.requests.replicaGone(id));
    this.requests.serve((body) => book.answer(body as BookRequest));

    channel.events.on("heartbeat", (nodeId, hb) => {
      this.fleet.emit("heartbeat", nodeId, hb);
      this.relayHeartbeat(nodeId, hb);
    });
    channel.events.on("draining", (nodeId, draining) => this.fleet.emit("draining", nodeId, draining));
    presence.on("change", (node, status, observed) => void (!observed && this.bus.publish({ t: "presence", node, status })));
    book.on("changed", (r, fromPeer) => {
      if (fromPeer) return;
      const pull = book.pullOf(r.id);
      this.bus.publish({ t: "rental", id: r.id, ...(pull ? { pull } : {}) });
    });
    await this.replica.start();
  }

  owns(nodeId: string): boolean {
    return this.replica.owns(nodeId);
  }

  remoteOwner(nodeId: string): Promise<string | undefined> {
    return this.replica.remoteOwner(nodeId);
  }

  ask(replicaId: string, request: BookRequest, timeoutMs: number): Promise<unknown> {
    return this.requests.ask(replicaId, request, timeoutMs);
  }

  async claim(nodeId: string, draining: boolean): Promise<void> {
    await this.replica.claim(nodeId, draining);
    this.bus.publish({ t: "owner", node: nodeId });
    this.bus.publish({ t: "link", node: nodeId, connected: true, draining });
  }

  linkChanged(nodeId: string, connected: boolean, draining: boolean): void {
    void this.replica
      .updateLink(nodeId, connected, draining)
      .then((still) => still && this.bus.publish({ t: "link", node: nodeId, connected, draining }))
      .catch((err: unknown) => this.deps.logger.warn({ err: (err as Error).message, nodeId }, "could not record a node's link; the other replicas read it at their next sync"));
  }

  /** Whether a node's stream is open on any replica, and whether it drains: for views and picking. */
  isConnected(nodeId: string): boolean {
    return this.parts?.channel.isConnected(nodeId) === true || this.replica.isConnected(nodeId);
  }

  isDraining(nodeId: string): boolean {
    const channel = this.parts?.channel;
    return channel?.isConnected(nodeId) ? channel.isDraining(nodeId) : this.replica.isDraining(nodeId);
  }

  async close(): Promise<void> {
    await this.replica.close();
    await this.bus.close();
  }

  private onMessage(from: string, m: BusMessage): void {
    const parts = this.parts;
    if (!parts) return;
    switch (m.t) {
      case "owner":
        return this.replica.heard(from, m.node, { connected: true, draining: this.replica.isDraining(m.node) });
      case "link": {
        const was = this.isDraining(m.node);
        this.replica.heard(from, m.node, { connected: m.connected, draining: m.draining });
        if (was !== m.draining) this.fleet.emit("draining", m.node, m.draining);
        return;
      }
      case "presence":
        return parts.presence.observe(m.node, m.status);
      case "hb": {
        const hb = Heartbeat.decode(Buffer.from(m.hb, "base64"));
        parts.heartbeats.remember(hb, new Date(m.at));
        parts.presence.observe(m.node, "online");
        this.fleet.emit("heartbeat", m.node, hb);
        return;
      }
      case "rental":
        return void parts.book.absorb(m.id, m.pull).catch((err: unknown) => this.deps.logger.warn({ err, rentalId: m.id }, "could not read a rental another replica changed"));
      case "req":
      case "ans":
        return this.requests.onMessage(m);
    }
  }

  private relayHeartbeat(nodeId: string, hb: Heartbeat): void {
    // Alone, nobody listens; a replica that joins has every node's next heartbeat within an interval.
    if (!this.replica.hasPeers()) return;
    let bytes = Heartbeat.encode(hb).finish();
    if (bytes.length > HEARTBEAT_RELAY_BYTES) bytes = Heartbeat.encode({ ...hb, rentals: [] }).finish();
    this.bus.publish({ t: "hb", node: nodeId, at: Date.now(), hb: Buffer.from(bytes).toString("base64") });
  }
}
