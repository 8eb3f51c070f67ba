import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { TokenRefusal, type SessionTokens } from "../../auth/session-tokens.js";
import type { HubChannel } from "../channel/hub-channel.js";
import { eventSchemas, events, type EventStreamEvents, type NodeLive, type RentalEntry, type RentalRole } from "../../hubapi/events.js";
import { nodeLiveView } from "../dashboard/node-live-view.js";
import { type ToolkitPolicy, toolkitRefusal } from "../rentals/toolkit-policy.js";
import type { HeartbeatBuffer } from "../heartbeat-buffer.js";
import type { ReleaseCatalog } from "../releases/release-store.js";
import type { Presence } from "../presence.js";
import type { RentalBook } from "../rentals/rental-book.js";
import type { HubStore, NodeRecord } from "../store/hub-store.js";
import type { HubRental } from "../store/rental-store.js";
import type { RentalViews } from "./rental-views.js";
import type { Router } from "./router.js";
import { sessionToken } from "./session-cookie.js";

export interface EventStreamOptions {
  /** A node's update goes out at most once per this long (and a change within this long). */
  coalesceMs: number;
  /** A `:` comment this often keeps proxies and browsers from timing the stream out. */
  keepAliveMs: number;
  /** A client that lets this much pile up unread is dropped; EventSource reconnects and gets a fresh snapshot. */
  maxBufferedBytes: number;
  /** Most rentals per role in the snapshot (newest first). */
  snapshotRentals: number;
}

export const defaultEventStreamOptions: EventStreamOptions = {
  coalesceMs: 1_000,
  keepAliveMs: 15_000,
  maxBufferedBytes: 4 * 1024 * 1024,
  snapshotRentals: 100,
};

export interface EventRouteDeps {
  tokens: SessionTokens;
  /** Which nodes get no rentals, and why (shown on each node). */
  toolkit?: ToolkitPolicy;
  /** The recommended daemon version: each node says whether it runs an older one. */
  releases?: Pick<ReleaseCatalog, "behind">;
  store: HubStore;
  presence: Presence;
  heartbeats: HeartbeatBuffer;
  nodeEvents: HubChannel["events"];
  /** As the node last said (node-daemon drain): the live view shows it as the node's status. */
  isDraining: (nodeId: string) => boolean;
  book: RentalBook;
  views: RentalViews;
  logger: Logger;
}

/** GET /v1/events: the dashboard's live feed as Server-Sent Events. */
export function addEventRoutes(router: Router, deps: EventRouteDeps, opts: EventStreamOptions = defaultEventStreamOptions): EventFeed {
  const feed = new EventFeed(opts, deps);
  router.on(events, async ({ req, res }) => {
    await feed.connect(req, res);
    return undefined;
  });
  return feed;
}

interface SseClient {
  res: ServerResponse;
  token: string | undefined;
  wallet: string | null;
  /** Until the snapshot (and what changed while it was read) is written; null after. */
  pending: { nodes: Set<string>; rentals: Set<string> } | null;
}

/** One Server-Sent Event, serialised once however many clients get it; its data leaves only through the event's declared schema. */
function frame<K extends keyof EventStreamEvents>(event: K, data: EventStreamEvents[K]): string {
  return `event: ${event}\ndata: ${JSON.stringify(eventSchemas[event].parse(data))}\n\n`;
}

/**
 * One feed for all clients. It listens to the hub only while someone is connected; node changes
 * (heartbeats, presence) are gathered and sent as one `nodes` batch at most every coalesceMs, so a
 * node's row updates at most once per interval however often it reports and however large the fleet.
 * Rentals go only to the clients of the two wallets concerned (an index by wallet, not a scan).
 */
export class EventFeed {
  private readonly clients = new Set<SseClient>();
  private readonly byWallet = new Map<string, Set<SseClient>>();
  private readonly connecting = new Set<SseClient>();
  /** Node descriptions (wallet, host, GPUs): read from the store once, again when a node comes or goes. */
  private readonly nodeCache = new Map<string, NodeRecord>();
  private readonly dirty = new Set<string>();
  private readonly stale = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing = false;
  private lastFlushAt = 0;
  private keepAlive: NodeJS.Timeout | undefined;

  constructor(
    private readonly opts: EventStreamOptions,
    private readonly deps: EventRouteDeps,
  ) {}

  get clientCount(): number {
    return this.clients.size;
  }

  async connect(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const token = sessionToken(req);
    const client: SseClient = { res, token, wallet: this.walletOf(token), pending: { nodes: new Set(), rentals: new Set() } };
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" });
    res.write("retry: 2000\n\n");
    this.add(client);
    res.on("close", () => this.remove(client));
    try {
      const snapshot = await this.snapshot(client.wallet);
      if (!this.clients.has(client)) return;
      this.write(client, frame("snapshot", snapshot));
      // What changed while the snapshot was read is read again (the store, not the old event, is the
      // truth) until nothing is left; only then do live events flow, so none can overtake a re-read.
      while (client.pending && (client.pending.nodes.size > 0 || client.pending.rentals.size > 0)) {
        const { nodes, rentals } = client.pending;
        client.pending = { nodes: new Set(), rentals: new Set() };
        const views = (await Promise.all([...nodes].map((id) => this.view(id)))).flatMap((n) => n ?? []);
        if (views.length > 0) this.write(client, frame("nodes", { nodes: views }));
        for (const id of rentals) {
          const r = await this.deps.store.rentals.get(id);
          if (r) await this.deliverRental(r, client);
        }
      }
      client.pending = null;
      this.connecting.delete(client);
    } catch (err) {
      this.deps.logger.warn({ err }, "could not send the event stream's snapshot");
      res.destroy();
    }
  }

  private liveView(n: NodeRecord): NodeLive {
    const refusal = this.deps.toolkit ? toolkitRefusal(n, this.deps.toolkit) : null;
    return nodeLiveView(n, this.deps.presence, this.deps.heartbeats.get(n.id), this.deps.isDraining(n.id), refusal, this.deps.releases?.behind(n.versions.daemon) ?? null);
  }

  private async snapshot(wallet: string | null): Promise<EventStreamEvents["snapshot"]> {
    const { store, heartbeats, presence } = this.deps;
    const nodes = await store.listNodes();
    for (const n of nodes) this.nodeCache.set(n.id, n);
    const rentals: RentalEntry[] = [];
    if (wallet) {
      const asRenter = (await store.rentals.list({ renter: wallet })).slice(0, this.opts.snapshotRentals);
      const mine = nodes.filter((n) => n.wallet === wallet).map((n) => n.id);
      const asProvider = (await store.rentals.list({ nodeIds: mine })).filter((r) => r.renter !== wallet).slice(0, this.opts.snapshotRentals);
      rentals.push(...(await this.deps.views.many(asRenter)).map((rental) => ({ role: "renter" as const, rental })));
      rentals.push(...(await this.deps.views.many(asProvider)).map((rental) => ({ role: "provider" as const, rental })));
    }
    return { wallet, serverTime: new Date().toISOString(), nodes: nodes.map((n) => this.liveView(n)), rentals };
  }

  private walletOf(token: string | undefined): string | null {
    if (!token) return null;
    try {
      return this.deps.tokens.verify(token).address;
    } catch (err) {
      if (err instanceof TokenRefusal) return null;
      throw err;
    }
  }

  private add(client: SseClient): void {
    if (this.clients.size === 0) this.attach();
    this.clients.add(client);
    this.connecting.add(client);
    if (client.wallet) {
      const set = this.byWallet.get(client.wallet) ?? new Set();
      set.add(client);
      this.byWallet.set(client.wallet, set);
    }
  }

  private remove(client: SseClient): void {
    if (!this.clients.delete(client)) return;
    this.connecting.delete(client);
    this.unindex(client);
    if (this.clients.size === 0) this.detach();
  }

  private unindex(client: SseClient): void {
    if (!client.wallet) return;
    const set = this.byWallet.get(client.wallet);
    set?.delete(client);
    if (set?.size === 0) this.byWallet.delete(client.wallet);
  }

  /** Heartbeats and drain changes alike: the node's row is sent again at the next flush. */
  private readonly onNodeReport = (nodeId: string): void => this.markDirty(nodeId);
  private readonly onPresence = (nodeId: string): void => {
    this.stale.add(nodeId);
    this.markDirty(nodeId);
  };
  private readonly onRental = (rental: HubRental): void => {
    for (const c of this.connecting) c.pending?.rentals.add(rental.id);
    this.deliverRental(rental).catch((err: unknown) => this.deps.logger.warn({ err, rentalId: rental.id }, "could not send a rental change to the event stream"));
  };

  private attach(): void {
    this.deps.nodeEvents.on("heartbeat", this.onNodeReport);
    this.deps.nodeEvents.on("draining", this.onNodeReport);
    this.deps.presence.on("change", this.onPresence);
    this.deps.book.on("changed", this.onRental);
    this.keepAlive = setInterval(() => this.tickKeepAlive(), this.opts.keepAliveMs);
    this.keepAlive.unref();
  }

  /** The last client left: no listeners, timers or caches stay behind. */
  private detach(): void {
    this.deps.nodeEvents.off("heartbeat", this.onNodeReport);
    this.deps.nodeEvents.off("draining", this.onNodeReport);
    this.deps.presence.off("change", this.onPresence);
    this.deps.book.off("changed", this.onRental);
    clearInterval(this.keepAlive);
    clearTimeout(this.flushTimer);
    this.keepAlive = undefined;
    this.flushTimer = undefined;
    this.dirty.clear();
    this.stale.clear();
    this.nodeCache.clear();
  }

  private tickKeepAlive(): void {
    for (const c of this.clients) this.write(c, ": keep-alive\n\n");
    for (const set of [...this.byWallet.values()]) for (const c of [...set]) this.recheckSession(c);
  }

  /** A signed-out or expired session stops seeing rentals at once, and is told. */
  private recheckSession(c: SseClient): boolean {
    if (c.wallet === null) return false;
    if (this.walletOf(c.token) === c.wallet) return true;
    this.unindex(c);
    c.wallet = null;
    this.write(c, frame("session", { wallet: null, reason: "the session ended; sign in again to see your rentals" }));
    return false;
  }

  private markDirty(nodeId: string): void {
    for (const c of this.connecting) c.pending?.nodes.add(nodeId);
    this.dirty.add(nodeId);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer || this.flushing || this.dirty.size === 0 || this.clients.size === 0) return;
    const wait = Math.max(0, this.lastFlushAt + this.opts.coalesceMs - Date.now());
    this.flushTimer = setTimeout(() => void this.flush(), wait);
    this.flushTimer.unref();
  }

  private async flush(): Promise<void> {
    this.flushTimer = undefined;
    this.flushing = true;
    this.lastFlushAt = Date.now();
    const ids = [...this.dirty];
    this.dirty.clear();
    try {
      const nodes = (await Promise.all(ids.map((id) => this.view(id)))).flatMap((n) => n ?? []);
      if (nodes.length > 0) {
        const text = frame("nodes", { nodes });
        for (const c of this.clients) if (!c.pending) this.write(c, text);
      }
    } catch (err) {
      // The next change of these nodes sends them again.
      this.deps.logger.warn({ err, nodes: ids.length }, "could not read nodes for the event stream");
    } finally {
      this.flushing = false;
      this.scheduleFlush();
    }
  }

  private async view(nodeId: string): Promise<NodeLive | undefined> {
    let node = this.stale.delete(nodeId) ? undefined : this.nodeCache.get(nodeId);
    if (!node) {
      node = await this.deps.store.getNode(nodeId);
      if (!node) return undefined;
      if (this.clients.size > 0) this.nodeCache.set(nodeId, node);
    }
    return this.liveView(node);
  }

  /**
   * A rental goes to its renter's clients and to those of the wallet whose node runs it; nobody else.
   * Without `only`, to every such client past its snapshot; with it, to that one client alone.
   */
  private async deliverRental(rental: HubRental, only?: SseClient): Promise<void> {
    if (!only && this.byWallet.size === 0) return; // nobody signed in is watching
    const provider = (this.nodeCache.get(rental.nodeId) ?? (await this.deps.store.getNode(rental.nodeId)))?.wallet;
    const view = await this.deps.views.one(rental);
    const targets: Array<[SseClient, RentalRole]> = [...(this.byWallet.get(rental.renter) ?? [])].map((c) => [c, "renter"]);
    if (provider && provider !== rental.renter) targets.push(...[...(this.byWallet.get(provider) ?? [])].map((c): [SseClient, RentalRole] => [c, "provider"]));
    const text = new Map<RentalRole, string>();
    for (const [c, role] of targets) {
      if (only ? c !== only : c.pending) continue;
      if (!this.recheckSession(c)) continue;
      if (!text.has(role)) text.set(role, frame("rental", { role, rental: view }));
      this.write(c, text.get(role) ?? "");
    }
  }

  private write(c: SseClient, text: string): void {
    if (c.res.destroyed || c.res.writableEnded) return;
    if (c.res.writableLength > this.opts.maxBufferedBytes) {
      c.res.destroy();
      return;
    }
    c.res.write(text);
  }
}
