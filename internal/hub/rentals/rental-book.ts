import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import { type CommandResult, type Heartbeat, type ImagePullProgress, type RentalEvent, type RentalInfo, RentalState } from "../../proto/gen/gpunode/v1/gpunode.js";
import type { HubChannel } from "../channel/hub-channel.js";
import type { HubMetrics } from "../../metrics/hub-metrics.js";
import type { HeartbeatBuffer } from "../heartbeat-buffer.js";
import { ApiError } from "../http/api-error.js";
import type { RentalTimings } from "../options.js";
import type { PullView } from "../../hubapi/rentals.js";
import type { Presence } from "../presence.js";
import type { HeartbeatRecord, HubStore } from "../store/hub-store.js";
import { ACTIVE_STATUSES, type HubRental, type RentalRequest } from "../store/rental-store.js";
import { ActiveRentals } from "./active-rentals.js";
import { SilenceWatch } from "./silence-watch.js";
import { limitOf } from "./rental-limit.js";
import { toolkitRefusal } from "./toolkit-policy.js";
import { askNode } from "./node-commands.js";
import { pickNode } from "./node-picker.js";
import { answerFailed, changes, missingPatch, nodeViewPatch, type RentalPatch, startFailed } from "./node-view.js";
import type { BookRequest, NodeOwners } from "./book-requests.js";

export type RentalBookOptions = RentalTimings;

/** What the book asks of billing: whether a rental is paid on chain, and its payment record made. */
export interface RentalPayments {
  /** True when a rental at this price waits for an escrow funding before it starts. */
  requiresPayment(pricePerSecWei: string): boolean;
  /** How long a renter has to fund a rental before it is given up. */
  readonly paymentWindowMs: number;
  /** Records what the renter must pay for a rental just made. */
  open(rental: HubRental): Promise<void>;
}

export interface RentalBookDeps {
  store: HubStore;
  channel: HubChannel;
  presence: Presence;
  heartbeats: HeartbeatBuffer;
  logger: Logger;
  metrics: HubMetrics | null;
  /** Absent: no chain, rentals are free to start. */
  payments?: RentalPayments;
  /** Absent: one hub, which runs every node's rentals. */
  owners?: NodeOwners;
  /** Whether a node's stream is open on any replica (this hub's channel when there is one hub). */
  links?: Pick<HubChannel, "isConnected" | "isDraining">;
}

export interface CreateRental extends RentalRequest {
  /** A node, or empty for "the cheapest node with gpuCount free GPUs of gpuModel". */
  nodeId: string;
  /** The most the renter pays, in wei per second; empty = any price. */
  maxPricePerSecWei: string;
}

const isActive = (r: HubRental): boolean => ACTIVE_STATUSES.includes(r.status);
const isLive = (s: RentalState): boolean => s === RentalState.RENTAL_STATE_RUNNING || s === RentalState.RENTAL_STATE_STARTING;

/**
 * The hub's record of every rental: made here, started and stopped through the node channel,
 * and kept true by what nodes report (results, events, heartbeats). Duration limits are enforced
 * here too, whatever the node does. A report that changes nothing writes nothing: a fleet's
 * heartbeats are compared with the active rentals in memory, not with the store.
 */
export class RentalBook extends EventEmitter<{ changed: [rental: HubRental, fromPeer?: boolean] }> {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly active = new ActiveRentals();
  /** Start and stop commands out: the node's list may not show these as the hub has them yet. */
  private readonly starting = new Set<string>();
  private readonly stopping = new Set<string>();
  /** "node/rental" pairs a node reports that the hub never placed on it: looked up once, then left alone. */
  private readonly unknown = new Set<string>();
  private readonly queues = new Map<string, Promise<void>>();
  /** "node/rental" pairs already logged as refused. */
  private readonly refused = new Set<string>();
  /** The latest pull progress of rentals that are starting, as their nodes reported it. */
  private readonly pulls = new Map<string, PullView>();
  /** Starts in flight, each waiting for word from its own node. */
  private readonly silences = new Map<string, { nodeId: string; watch: SilenceWatch }>();
  /** GPUs picked on a node for rentals being created (before they are in `active`): concurrent picks see them. */
  private readonly reserved = new Map<string, number>();

  constructor(
    private readonly opts: RentalBookOptions,
    private readonly deps: RentalBookDeps,
  ) {
    super();
  }

  /** Loads the active rentals, re-arms their duration limits and starts listening to nodes. */
  async start(): Promise<void> {
    for (const r of await this.deps.store.rentals.list({ statuses: ACTIVE_STATUSES })) {
      this.active.put(r);
      this.armLimit(r);
    }
    const events = this.deps.channel.events;
    events.on("rentalEvent", (nodeId, ev) => void this.guard(this.serial(nodeId, () => this.onRentalEvent(nodeId, ev))));
    events.on("pullProgress", (nodeId, p) => this.onPullProgress(nodeId, p));
    events.on("heartbeat", (nodeId, hb) => void this.guard(this.serial(nodeId, () => this.onHeartbeat(nodeId, hb))));
    this.deps.presence.on("change", (nodeId, status, observed) => void (status === "offline" && !observed && this.guard(this.serial(nodeId, () => this.onNodeOffline(nodeId)))));
  }

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  async create(renter: string, input: CreateRental): Promise<HubRental> {
    const gpus = input.gpuIds.length > 0 ? input.gpuIds.length : input.gpuCount;
    // A picked node holds the rental's GPUs in `reserved` until the rental is in `active`.
    const nodeId = input.nodeId || (await this.pick(input, gpus));
    try {
      return await this.atOwner(nodeId, { op: "place", renter, input: { ...input, nodeId } }, () => this.place(renter, nodeId, input), ASK_PLACE_MS, this.rentalOf);
    } finally {
      if (!input.nodeId) this.reserve(nodeId, -gpus);
    }
  }

  private async place(renter: string, nodeId: string, input: CreateRental): Promise<HubRental> {
    const node = await this.deps.store.getNode(nodeId);
    if (!node) throw new ApiError(404, "unknown_node", `no node ${nodeId}`);
    if (!this.deps.channel.isConnected(nodeId)) throw new ApiError(409, "node_offline", `node ${nodeId} is offline`);
    const unsafe = toolkitRefusal(node, this.opts.toolkit);
    if (unsafe) throw new ApiError(409, "unsafe_container_toolkit", `node ${nodeId} takes no rentals: ${unsafe}`);
    if (this.deps.channel.isDraining(nodeId)) throw new ApiError(409, "node_draining", `node ${nodeId} is draining: it takes no new rentals; pick another node or leave nodeId empty`);
    if (input.maxPricePerSecWei && BigInt(node.pricePerSecWei) > BigInt(input.maxPricePerSecWei)) {
      throw new ApiError(409, "price_above_max", `node ${nodeId} asks ${node.pricePerSecWei} wei/s, more than your maximum of ${input.maxPricePerSecWei}`);
    }
    const paid = this.deps.payments?.requiresPayment(node.pricePerSecWei) ?? false;
    const createdAt = new Date();
    const rental: HubRental = {
      id: randomUUID(),
      renter,
      nodeId,
      status: paid ? "awaiting_payment" : "starting",
      request: stripNode(input),
      gpuIndices: [],
      ssh: null,
      pricePerSecWei: node.pricePerSecWei,
      reason: "",
      exitCode: null,
      createdAt,
      startedAt: null,
      endedAt: null,
      // While it awaits payment: the deadline for the funding to be final.
      expiresAt: paid && this.deps.payments ? new Date(createdAt.getTime() + this.deps.payments.paymentWindowMs) : null,
      offlineSince: null,
      paidSeconds: null,
    };
    await this.deps.store.rentals.create(rental);
    if (paid) await this.deps.payments?.open(rental);
    this.active.put(rental);
    this.emit("changed", rental);
    if (paid) this.armLimit(rental);
    else void this.guard(this.dispatchStart(rental));
    return rental;
  }

  /**
   * Its funding is final and matches: the rental starts, limited to what the deposit pays for. A node
   * that is away gets it when it is back (or, after the payment window, the renter a full refund).
   * False when it no longer awaits payment (stopped, expired, or started already).
   */
  async startPaid(id: string, paidSeconds: number): Promise<boolean> {
    const r = this.active.get(id) ?? (await this.deps.store.rentals.get(id));
    if (!r) return false;
    return this.atOwner(r.nodeId, { op: "startPaid", id, paidSeconds }, () => this.startPaidHere(r, paidSeconds), ASK_PLACE_MS, async (a) => a === true);
  }

  private async startPaidHere(r: HubRental, paidSeconds: number): Promise<boolean> {
    const id = r.id;
    return this.serial(r.nodeId, async () => {
      const current = this.active.get(id);
      if (current?.status !== "awaiting_payment") return false;
      if (!this.deps.channel.isConnected(current.nodeId)) {
        const waitMs = this.deps.payments?.paymentWindowMs ?? 0;
        const held = await this.settle(id, { status: "awaiting_payment", paidSeconds, reason: "paid; it starts when its node is back online", expiresAt: new Date(Date.now() + waitMs) });
        this.armLimit(held);
        return true;
      }
      await this.dispatchPaid(current, paidSeconds);
      return true;
    });
  }

  /** Paid rentals that waited for this node: it is back (it heartbeats). */
  private async startWaitingPaid(nodeId: string): Promise<void> {
    for (const r of this.active.onNode(nodeId)) if (r.status === "awaiting_payment" && r.paidSeconds !== null) await this.dispatchPaid(r, r.paidSeconds);
  }

  private async dispatchPaid(r: HubRental, paidSeconds: number): Promise<void> {
    const starting = await this.settle(r.id, { status: "starting", paidSeconds, expiresAt: null, reason: "" });
    this.disarm(r.id);
    void this.guard(this.dispatchStart(starting));
  }

  /** A funding the hub will not start on (wrong price, provider or amount): the rental fails with the reason. */
  async refusePayment(id: string, reason: string): Promise<void> {
    const r = this.active.get(id);
    if (!r) return;
    await this.atOwner(r.nodeId, { op: "refusePayment", id, reason }, () => this.refusePaymentHere(r, reason), ASK_PLACE_MS, async () => undefined);
  }

  private async refusePaymentHere(r: HubRental, reason: string): Promise<void> {
    const id = r.id;
    await this.serial(r.nodeId, async () => {
      if (this.active.get(id)?.status === "awaiting_payment") await this.settle(id, { status: "failed", reason, endedAt: new Date(), expiresAt: null });
    });
  }

  /** Tells watchers (the live stream) that something about the rental changed outside its record, e.g. its payment. */
  async announce(id: string): Promise<void> {
    const r = this.active.get(id) ?? (await this.deps.store.rentals.get(id));
    if (r) this.emit("changed", r);
  }

  /** A top-up: the rental runs longer. */
  async extendPaid(id: string, paidSeconds: number): Promise<void> {
    const r = this.active.get(id);
    if (!r || r.paidSeconds === null) return;
    await this.atOwner(r.nodeId, { op: "extendPaid", id, paidSeconds }, () => this.extendPaidHere(r, paidSeconds), ASK_PLACE_MS, async () => undefined);
  }

  private async extendPaidHere(r: HubRental, paidSeconds: number): Promise<void> {
    const id = r.id;
    await this.serial(r.nodeId, async () => {
      const current = this.active.get(id);
      if (!current) return;
      const expiresAt = current.startedAt ? limitOf(current.startedAt, current.request.maxDurationSeconds, paidSeconds) : current.expiresAt;
      this.armLimit(await this.settle(id, { status: current.status, paidSeconds, expiresAt }));
    });
  }

  /** A node that is or goes offline is told when it reconnects; a node too slow to answer is a 504. */
  async stop(rental: HubRental, reason = "stopped by the renter"): Promise<HubRental> {
    if (!isActive(rental)) return rental;
    return this.atOwner(rental.nodeId, { op: "stop", id: rental.id, reason }, () => this.stopHere(rental, reason), this.askNodeMs(), this.rentalOf);
  }

  private async stopHere(rental: HubRental, reason: string): Promise<HubRental> {
    if (rental.status === "awaiting_payment") {
      // Nothing on a node yet: it just ends (a funding that comes later is refunded).
      return this.serial(rental.nodeId, async () =>
        this.active.get(rental.id)?.status === "awaiting_payment" ? this.settle(rental.id, { status: "stopped", reason, endedAt: new Date(), expiresAt: null }) : ((await this.deps.store.rentals.get(rental.id)) ?? rental),
      );
    }
    this.stopping.add(rental.id);
    try {
      const res = await askNode(this.deps.channel, rental.nodeId, { $case: "stopRental", value: { rentalId: rental.id, timeoutSeconds: 10 } }, this.opts.commandTimeoutMs).catch((err: unknown) => {
        if (err instanceof ApiError && err.code === "node_offline") return undefined;
        throw err;
      });
      if (res?.outcome?.$case === "error") throw new ApiError(502, res.outcome.value.code, `the node could not stop the rental: ${res.outcome.value.message}`);
      const why = res ? reason : `${reason}; the node is offline and is told when it reconnects`;
      return await this.serial(rental.nodeId, async () => {
        const current = this.active.get(rental.id);
        // Stopped while its node is away: billed until the node was last seen, as nothing says it ran on.
        const endedAt = current?.status === "node_offline" && current.offlineSince ? current.offlineSince : new Date();
        return current ? this.settle(rental.id, { status: "stopped", reason: why, endedAt, offlineSince: null }) : ((await this.deps.store.rentals.get(rental.id)) ?? rental);
      });
    } finally {
      this.stopping.delete(rental.id);
    }
  }

  async logs(rental: HubRental, tail: number): Promise<string> {
    return this.atOwner(rental.nodeId, { op: "logs", id: rental.id, tail }, () => this.logsHere(rental, tail), this.askNodeMs(), async (a) => String(a));
  }

  private async logsHere(rental: HubRental, tail: number): Promise<string> {
    const res = await askNode(this.deps.channel, rental.nodeId, { $case: "getRentalLogs", value: { rentalId: rental.id, tailLines: tail } }, this.opts.commandTimeoutMs);
    if (res.outcome?.$case === "rentalLogs") return res.outcome.value.text;
    const err = res.outcome?.$case === "error" ? res.outcome.value : { code: "bad_answer", message: "the node answered with something else" };
    if (err.code === "unknown_rental" && !isActive(rental)) throw logsRemoved(rental);
    throw new ApiError(502, err.code, err.message);
  }

  /**
   * Removes an ended rental's container (and so its logs) from its node now, rather than after the
   * node's retention period. The hub's record stays: it is the renter's bill.
   */
  async remove(rental: HubRental): Promise<HubRental> {
    if (isActive(rental)) throw new ApiError(409, "rental_active", `rental ${rental.id} is ${rental.status}: stop it first, then delete it`);
    await this.atOwner(rental.nodeId, { op: "remove", id: rental.id }, () => this.removeHere(rental), this.askNodeMs(), async () => undefined);
    return rental;
  }

  private async removeHere(rental: HubRental): Promise<void> {
    const res = await askNode(this.deps.channel, rental.nodeId, { $case: "stopRental", value: { rentalId: rental.id, timeoutSeconds: 0 } }, this.opts.commandTimeoutMs);
    if (res.outcome?.$case === "error") throw new ApiError(502, res.outcome.value.code, `the node could not remove the rental's container: ${res.outcome.value.message}`);
    this.deps.logger.info({ rentalId: rental.id, nodeId: rental.nodeId }, "an ended rental's container removed at its renter's request");
  }

  /** A request from another replica, for a node this one owns. Answers are plain JSON: a rental goes back as its id. */
  async answer(req: BookRequest): Promise<unknown> {
    if (req.op === "place") return (await this.place(req.renter, req.input.nodeId, req.input)).id;
    const r = this.active.get(req.id) ?? (await this.deps.store.rentals.get(req.id));
    if (!r) throw new ApiError(404, "unknown_rental", `no rental ${req.id}`);
    switch (req.op) {
      case "stop":
        return (await this.stopHere(r, req.reason)).id;
      case "logs":
        return this.logsHere(r, req.tail);
      case "remove":
        return this.removeHere(r);
      case "startPaid":
        return this.startPaidHere(r, req.paidSeconds);
      case "refusePayment":
        return this.refusePaymentHere(r, req.reason);
      case "extendPaid":
        return this.extendPaidHere(r, req.paidSeconds);
    }
  }

  /** Runs it here when this hub owns the node (or nobody does), else asks the owner and reads what it answers. */
  private async atOwner<T>(nodeId: string, req: BookRequest, here: () => Promise<T>, timeoutMs: number, read: (answer: unknown) => Promise<T>): Promise<T> {
    const owner = await this.deps.owners?.remoteOwner(nodeId);
    return owner ? read(await this.deps.owners?.ask(owner, req, timeoutMs)) : here();
  }

  private readonly rentalOf = async (id: unknown): Promise<HubRental> => {
    const r = await this.deps.store.rentals.get(String(id));
    if (!r) throw new Error(`rental ${String(id)} vanished`);
    return r;
  };

  /** How long a replica waits for the owner's answer to a request that goes to the node. */
  private askNodeMs(): number {
    return this.opts.commandTimeoutMs + ASK_MARGIN_MS;
  }

  /**
   * Another replica changed the rental: read it again. Pull progress comes with the message (it is
   * kept in memory, not in the store).
   */
  async absorb(id: string, pull?: PullView): Promise<void> {
    // A rental never changes node: the one in memory names the queue, the store only a rental not seen yet.
    const nodeId = this.active.get(id)?.nodeId ?? (await this.deps.store.rentals.get(id))?.nodeId;
    if (!nodeId) return;
    await this.serial(nodeId, async () => {
      const fresh = await this.deps.store.rentals.get(id);
      if (!fresh) return;
      this.active.put(fresh);
      if (pull && fresh.status === "starting") this.pulls.set(id, pull);
      else if (fresh.status !== "starting") this.pulls.delete(id);
      this.armLimit(fresh);
      this.emit("changed", fresh, true);
    });
  }

  /** Nodes with a rental that is not over. */
  async nodesWithActiveRentals(): Promise<string[]> {
    return [...new Set((await this.deps.store.rentals.list({ statuses: ACTIVE_STATUSES })).map((r) => r.nodeId))];
  }

  /** This hub runs the node's rentals now (its stream came here): their limits are armed here, from memory every replica keeps in step. */
  armNode(nodeId: string): void {
    for (const r of this.active.onNode(nodeId)) this.armLimit(r);
  }

  /** Nodes whose replica died are this hub's now: their rentals are read again (what that replica wrote last may not have reached this one) and their limits armed. */
  async adoptNodes(nodeIds: string[]): Promise<void> {
    for (let i = 0; i < nodeIds.length; i += ADOPT_BATCH) {
      for (const r of await this.deps.store.rentals.list({ statuses: ACTIVE_STATUSES, nodeIds: nodeIds.slice(i, i + ADOPT_BATCH) })) {
        await this.serial(r.nodeId, async () => {
          this.active.put(r);
          this.armLimit(r);
        });
      }
    }
  }

  /** Another replica runs the node's rentals now: its limits are that one's to enforce. */
  disownNode(nodeId: string): void {
    for (const r of this.active.onNode(nodeId)) this.disarm(r.id);
  }

  private async pick(input: CreateRental, gpuCount: number): Promise<string> {
    const nodes = await this.deps.store.listNodes();
    const node = pickNode(
      nodes.map((n) => {
        const heartbeat = this.deps.heartbeats.get(n.id);
        // A node the hub places nothing on is, for picking, a node that is not there.
        const online = this.links.isConnected(n.id) && toolkitRefusal(n, this.opts.toolkit) === null;
        return { node: n, online, draining: this.links.isDraining(n.id), heartbeat, promised: this.promised(n.id, heartbeat) };
      }),
      { gpuCount, gpuModel: input.gpuModel, maxPricePerSecWei: input.maxPricePerSecWei ? BigInt(input.maxPricePerSecWei) : undefined },
    );
    if (!node) {
      const what = gpuCount === 0 ? "room for a CPU-only rental" : `${gpuCount} free GPU(s)${input.gpuModel ? ` of model "${input.gpuModel}"` : ""}`;
      const price = input.maxPricePerSecWei ? ` at ${input.maxPricePerSecWei} wei/s or less` : "";
      throw new ApiError(409, "no_capacity", `no online, non-draining node has ${what}${price}`);
    }
    // In the same tick as the choice: a concurrent pick must already see these GPUs taken.
    this.reserve(node.id, gpuCount);
    return node.id;
  }

  /** What this hub has given out on the node that the node's last heartbeat may not show yet. */
  private promised(nodeId: string, heartbeat: HeartbeatRecord | undefined): { indices: number[]; count: number } {
    const seenAt = heartbeat?.receivedAt.getTime() ?? 0;
    const indices: number[] = [];
    let count = this.reserved.get(nodeId) ?? 0;
    for (const r of this.active.onNode(nodeId)) {
      if (r.gpuIndices.length > 0) indices.push(...r.gpuIndices);
      // Started after the heartbeat, or not started yet: the heartbeat cannot know its GPUs.
      else if (r.status === "starting" || r.status === "awaiting_payment" || r.createdAt.getTime() > seenAt) count += r.request.gpuIds.length || r.request.gpuCount;
    }
    return { indices, count };
  }

  private reserve(nodeId: string, gpus: number): void {
    const left = (this.reserved.get(nodeId) ?? 0) + gpus;
    if (left > 0) this.reserved.set(nodeId, left);
    else this.reserved.delete(nodeId);
  }

  private async dispatchStart(rental: HubRental): Promise<void> {
    this.starting.add(rental.id);
    const q = rental.request;
    let res: CommandResult | undefined;
    let failure: unknown;
    // A large pull may take hours and is fine while it moves: the hub gives up only after
    // startSilenceMs without the answer or any pull progress (the node fails a stalled pull itself).
    const silence = new SilenceWatch(this.opts.startSilenceMs, `the node reported no progress starting it for ${Math.round(this.opts.startSilenceMs / 1000)} s`);
    // Heard through the book's one pullProgress listener: a listener per start would pile up on a busy hub.
    this.silences.set(rental.id, { nodeId: rental.nodeId, watch: silence });
    try {
      res = await this.deps.channel.sendCommand(
        rental.nodeId,
        {
          $case: "startRental",
          value: {
            rentalId: rental.id,
            image: q.image,
            gpus: { count: q.gpuIds.length > 0 ? 0 : q.gpuCount, ids: q.gpuIds, model: q.gpuModel },
            cpuMillis: q.cpuMillis,
            memoryBytes: q.memoryBytes,
            shmBytes: 0,
            pidsLimit: 0,
            env: q.env ?? [],
            command: q.command,
            sshPublicKeys: q.sshPublicKeys,
            sshPasswordHash: "",
            maxDurationSeconds: q.maxDurationSeconds,
            runAsRoot: q.runAsRoot ?? false,
          },
        },
        { timeoutMs: START_LONGEST_MS, signal: silence.signal },
      );
    } catch (err) {
      failure = silence.signal.aborted ? silence.signal.reason : err;
    } finally {
      this.silences.delete(rental.id);
      silence.close();
    }
    await this.serial(rental.nodeId, async () => {
      this.starting.delete(rental.id);
      if (res?.outcome?.$case === "rental") return this.applyNodeView(rental.nodeId, rental.id, res.outcome.value);
      const current = this.active.get(rental.id);
      // A renter's stop is under way: its answer settles the rental, not this start's failure.
      if (!current || this.stopping.has(rental.id)) return;
      const patch = res ? answerFailed(res) : startFailed(failure);
      if (changes(current, patch)) await this.settle(rental.id, patch);
    });
  }

  /** What the node says about a rental, made the hub's record when it differs; a node speaks only for rentals placed on it. */
  private async applyNodeView(nodeId: string, id: string, info: RentalInfo): Promise<void> {
    const current = this.active.get(id);
    if (!current || !this.isOwnRental(nodeId, current)) return;
    const patch = nodeViewPatch(current, info);
    if (patch && changes(current, patch)) this.armLimit(await this.settle(id, patch));
  }

  private async onRentalEvent(nodeId: string, ev: RentalEvent): Promise<void> {
    if (ev.rental) await this.applyNodeView(nodeId, ev.rental.rentalId, ev.rental);
  }

  pullOf(id: string): PullView | null {
    return this.pulls.get(id) ?? null;
  }

  /** A starting rental's pull, as its own node reports it: kept for the views, and sent live to its renter. */
  private onPullProgress(nodeId: string, p: ImagePullProgress): void {
    const silence = this.silences.get(p.rentalId);
    if (silence?.nodeId === nodeId) silence.watch.heard();
    const r = this.active.get(p.rentalId);
    if (!r || r.status !== "starting" || !this.isOwnRental(nodeId, r)) return;
    this.pulls.set(r.id, { status: p.status, currentBytes: Number(p.currentBytes), totalBytes: Number(p.totalBytes), layersDone: p.layersDone, layersTotal: p.layersTotal, at: new Date().toISOString() });
    this.emit("changed", r);
  }

  /**
   * Rental ids are not secrets (renters share them, dashboards show them), so a node's word about a
   * rental counts only when the hub placed that rental on that node. Anything else is a node
   * speaking for another provider's renter: refused and logged, never applied.
   */
  private isOwnRental(nodeId: string, r: Pick<HubRental, "id" | "nodeId">): boolean {
    if (r.nodeId === nodeId) return true;
    this.deps.metrics?.foreignReportsRefused.inc();
    // Once per node and rental: a hostile heartbeat repeats itself every interval.
    const key = `${nodeId}/${r.id}`;
    if (this.refused.has(key)) return false;
    if (this.refused.size >= 10_000) this.refused.clear();
    this.refused.add(key);
    this.deps.logger.warn({ nodeId, rentalId: r.id, rentalNodeId: r.nodeId }, "refused a node's report about a rental on another node");
    return false;
  }

  /** A node's heartbeat lists every rental container it holds: the hub's record follows it. */
  private async onHeartbeat(nodeId: string, hb: Heartbeat): Promise<void> {
    await this.startWaitingPaid(nodeId);
    const reported = new Map(hb.rentals.map((r) => [r.rentalId, r]));
    for (const r of this.active.onNode(nodeId)) {
      if (r.status === "awaiting_payment") continue;
      const info = reported.get(r.id);
      if (info) await this.applyNodeView(nodeId, r.id, info);
      else if (!this.starting.has(r.id) && !this.stopping.has(r.id)) await this.settle(r.id, missingPatch(r));
    }
    for (const info of hb.rentals) {
      const known = this.active.get(info.rentalId);
      if (known) this.isOwnRental(nodeId, known);
      else if (isLive(info.state)) await this.stopEnded(nodeId, info.rentalId);
    }
  }

  /** The node runs a rental the hub has ended (stopped while the node was away, or given up on): stop it there. */
  private async stopEnded(nodeId: string, id: string): Promise<void> {
    // Keyed by node: another node naming this id must not stop the hub from ending it on its own node.
    const key = `${nodeId}/${id}`;
    if (this.stopping.has(id) || this.unknown.has(key)) return;
    const r = await this.deps.store.rentals.get(id);
    if (!r || !this.isOwnRental(nodeId, r)) return void this.unknown.add(key);
    if (isActive(r)) return;
    this.stopping.add(id);
    // Not awaited: the node's later reports must not queue behind its stop.
    void askNode(this.deps.channel, nodeId, { $case: "stopRental", value: { rentalId: id, timeoutSeconds: 10 } }, this.opts.commandTimeoutMs)
      .catch((err: unknown) => this.deps.logger.warn({ err, rentalId: id }, "could not stop an ended rental on its node; its next heartbeat tries again"))
      .finally(() => this.stopping.delete(id));
  }

  /** Offline is not failed: the rental may well be running; the node's next report settles it. Billing pauses at the node's last heartbeat. */
  private async onNodeOffline(nodeId: string): Promise<void> {
    const lastSeen = this.deps.heartbeats.get(nodeId)?.receivedAt ?? new Date();
    for (const r of this.active.onNode(nodeId)) {
      if (r.status !== "node_offline" && r.status !== "awaiting_payment") await this.settle(r.id, { status: "node_offline", reason: "the node stopped heartbeating", offlineSince: r.startedAt && lastSeen < r.startedAt ? r.startedAt : lastSeen });
    }
  }

  private get links(): Pick<HubChannel, "isConnected" | "isDraining"> {
    return this.deps.links ?? this.deps.channel;
  }

  /** A rental's limit is enforced by the hub that owns its node, and only there. */
  private armLimit(r: HubRental): void {
    if (r.expiresAt && isActive(r) && (this.deps.owners?.owns(r.nodeId) ?? true)) this.schedule(r.id, r.expiresAt.getTime() - Date.now());
    else this.disarm(r.id);
  }

  private schedule(id: string, delayMs: number): void {
    clearTimeout(this.timers.get(id));
    const timer = setTimeout(
      () => {
        this.timers.delete(id);
        void this.guard(this.onLimit(id));
      },
      Math.max(0, Math.min(delayMs, this.opts.longestTimerMs)),
    );
    timer.unref();
    this.timers.set(id, timer);
  }

  /** A timer waits at most longestTimerMs (setTimeout's limit is ~24.8 days): one that wakes early sleeps again. */
  private async onLimit(id: string): Promise<void> {
    const r = this.active.get(id);
    if (!r?.expiresAt) return;
    if (r.expiresAt.getTime() > Date.now()) return this.armLimit(r);
    try {
      await this.stop(r, limitReason(r));
    } catch (err) {
      this.deps.logger.warn({ err, rentalId: id }, "could not stop a rental at its duration limit; trying again");
      this.schedule(id, this.opts.commandTimeoutMs);
    }
  }

  private disarm(id: string): void {
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
  }

  private async settle(id: string, patch: RentalPatch): Promise<HubRental> {
    await this.deps.store.rentals.update(id, patch);
    const updated = await this.deps.store.rentals.get(id);
    if (!updated) throw new Error(`rental ${id} vanished`);
    this.active.put(updated);
    if (updated.status !== "starting") this.pulls.delete(id);
    if (!isActive(updated)) this.disarm(id);
    this.emit("changed", updated);
    return updated;
  }

  /** One node's rentals change one at a time, in the order its reports came: a later report never races an earlier one. */
  private serial<T>(nodeId: string, work: () => Promise<T>): Promise<T> {
    const run = (this.queues.get(nodeId) ?? Promise.resolve()).then(work);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(nodeId, tail);
    void tail.then(() => this.queues.get(nodeId) === tail && this.queues.delete(nodeId));
    return run;
  }

  private async guard(p: Promise<unknown>): Promise<void> {
    try {
      await p;
    } catch (err) {
      this.deps.logger.error({ err }, "rental book-keeping failed");
    }
  }
}

/** Adopted nodes' rentals are read this many nodes at a time. */
const ADOPT_BATCH = 1_000;

/** How long a replica waits for the owner to make or change a rental (no node involved). */
const ASK_PLACE_MS = 15_000;
/** Beyond the node's own command timeout: the hop through the database, twice. */
const ASK_MARGIN_MS = 5_000;

/** However long a start keeps making progress, the hub stops waiting for its answer after this. */
const START_LONGEST_MS = 24 * 3_600_000;

const logsRemoved = (r: HubRental): ApiError =>
  new ApiError(410, "logs_removed", `rental ${r.id} ended and its container was removed (by its renter, or after the node's retention period): its logs are gone`);

function limitReason(r: HubRental): string {
  if (r.status === "awaiting_payment") return r.paidSeconds === null ? "no final payment came in time" : "its node did not come back online in time; the deposit is refunded";
  const own = r.request.maxDurationSeconds;
  return r.paidSeconds !== null && (own === 0 || r.paidSeconds < own) ? "the deposit is used up (top it up to run longer)" : "duration limit reached";
}

function stripNode(input: CreateRental): RentalRequest {
  const { nodeId: _node, maxPricePerSecWei: _price, ...request } = input;
  return request;
}
