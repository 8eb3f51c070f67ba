import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import { type Heartbeat, type RentalEvent, type RentalInfo, RentalState } from "../../proto/gen/gpunode/v1/gpunode.js";
import type { HubChannel } from "../channel/hub-channel.js";
import type { HeartbeatBuffer } from "../heartbeat-buffer.js";
import { ApiError } from "../http/api-error.js";
import type { Presence } from "../presence.js";
import type { HubStore } from "../store/hub-store.js";
import { ACTIVE_STATUSES, type HubRental, type RentalRequest, type RentalStatus } from "../store/rental-store.js";
import { pickNode } from "./node-picker.js";

export interface RentalBookOptions {
  /** How long the hub waits for a node to start a rental (image pulls included). */
  startTimeoutMs: number;
  commandTimeoutMs: number;
}

export interface RentalBookDeps {
  store: HubStore;
  channel: HubChannel;
  presence: Presence;
  heartbeats: HeartbeatBuffer;
  logger: Logger;
}

export interface CreateRental extends RentalRequest {
  /** A node, or empty for "any node with gpuCount free GPUs of gpuModel". */
  nodeId: string;
}

/**
 * The hub's record of every rental: made here, started and stopped through the node channel,
 * and kept true by what nodes report (results, events, heartbeats). Duration limits are enforced
 * here too, whatever the node does.
 */
export class RentalBook extends EventEmitter<{ changed: [rental: HubRental] }> {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly opts: RentalBookOptions,
    private readonly deps: RentalBookDeps,
  ) {
    super();
  }

  /** Re-arms duration limits of active rentals and starts listening to nodes. */
  async start(): Promise<void> {
    for (const r of await this.deps.store.rentals.list({ statuses: ACTIVE_STATUSES })) this.armLimit(r);
    const events = this.deps.channel.events;
    events.on("rentalEvent", (nodeId, ev) => void this.guard(this.onRentalEvent(nodeId, ev)));
    events.on("heartbeat", (nodeId, hb) => void this.guard(this.onHeartbeat(nodeId, hb)));
    this.deps.presence.on("change", (nodeId, status) => void (status === "offline" && this.guard(this.onNodeOffline(nodeId))));
  }

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  async create(renter: string, input: CreateRental): Promise<HubRental> {
    const nodeId = input.nodeId || (await this.pick(input));
    const node = await this.deps.store.getNode(nodeId);
    if (!node) throw new ApiError(404, "unknown_node", `no node ${nodeId}`);
    if (!this.deps.channel.isConnected(nodeId)) throw new ApiError(409, "node_offline", `node ${nodeId} is offline`);
    if (this.deps.channel.isDraining(nodeId)) throw new ApiError(409, "node_draining", `node ${nodeId} is draining: it takes no new rentals; pick another node or leave nodeId empty`);
    const rental: HubRental = {
      id: randomUUID(),
      renter,
      nodeId,
      status: "starting",
      request: stripNode(input),
      gpuIndices: [],
      ssh: null,
      pricePerSecWei: node.pricePerSecWei,
      reason: "",
      exitCode: null,
      createdAt: new Date(),
      startedAt: null,
      endedAt: null,
      expiresAt: null,
    };
    await this.deps.store.rentals.create(rental);
    this.emit("changed", rental);
    void this.guard(this.dispatchStart(rental));
    return rental;
  }

  async stop(rental: HubRental, reason = "stopped by the renter"): Promise<HubRental> {
    if (!ACTIVE_STATUSES.includes(rental.status)) return rental;
    if (this.deps.channel.isConnected(rental.nodeId)) {
      const res = await this.deps.channel.sendCommand(rental.nodeId, { $case: "stopRental", value: { rentalId: rental.id, timeoutSeconds: 10 } }, { timeoutMs: this.opts.commandTimeoutMs });
      if (res.outcome?.$case === "error") throw new ApiError(502, res.outcome.value.code, `the node could not stop the rental: ${res.outcome.value.message}`);
    } else {
      reason = `${reason}; the node is offline and is told when it reconnects`;
    }
    return this.settle(rental.id, { status: "stopped", reason, endedAt: new Date() });
  }

  async logs(rental: HubRental, tail: number): Promise<string> {
    const res = await this.deps.channel.sendCommand(rental.nodeId, { $case: "getRentalLogs", value: { rentalId: rental.id, tailLines: tail } }, { timeoutMs: this.opts.commandTimeoutMs });
    if (res.outcome?.$case === "rentalLogs") return res.outcome.value.text;
    const err = res.outcome?.$case === "error" ? res.outcome.value : { code: "bad_answer", message: "the node answered with something else" };
    throw new ApiError(502, err.code, err.message);
  }

  private async pick(input: CreateRental): Promise<string> {
    const nodes = await this.deps.store.listNodes();
    const node = pickNode(
      nodes.map((n) => ({ node: n, online: this.deps.channel.isConnected(n.id), draining: this.deps.channel.isDraining(n.id), heartbeat: this.deps.heartbeats.get(n.id) })),
      Math.max(1, input.gpuCount),
      input.gpuModel,
    );
    if (!node) throw new ApiError(409, "no_capacity", `no online, non-draining node has ${Math.max(1, input.gpuCount)} free GPU(s)${input.gpuModel ? ` of model "${input.gpuModel}"` : ""}`);
    return node.id;
  }

  private async dispatchStart(rental: HubRental): Promise<void> {
    const q = rental.request;
    let info: RentalInfo;
    try {
      const res = await this.deps.channel.sendCommand(
        rental.nodeId,
        {
          $case: "startRental",
          value: {
            rentalId: rental.id,
            image: q.image,
            gpus: { count: q.gpuIds.length > 0 ? 0 : q.gpuCount, ids: q.gpuIds },
            cpuMillis: q.cpuMillis,
            memoryBytes: q.memoryBytes,
            shmBytes: 0,
            pidsLimit: 0,
            env: [],
            command: q.command,
            sshPublicKeys: q.sshPublicKeys,
            sshPasswordHash: "",
            maxDurationSeconds: q.maxDurationSeconds,
          },
        },
        { timeoutMs: this.opts.startTimeoutMs },
      );
      if (res.outcome?.$case !== "rental") {
        const e = res.outcome?.$case === "error" ? res.outcome.value : { code: "bad_answer", message: "unexpected answer" };
        await this.settle(rental.id, { status: "failed", reason: `${e.code}: ${e.message}`, endedAt: new Date() });
        return;
      }
      info = res.outcome.value;
    } catch (err) {
      await this.settle(rental.id, { status: "failed", reason: `the node did not start it: ${(err as Error).message}`, endedAt: new Date() });
      return;
    }
    await this.applyNodeView(rental.id, info);
  }

  /** What the node says about a rental, made the hub's record. */
  private async applyNodeView(id: string, info: RentalInfo): Promise<void> {
    const current = await this.deps.store.rentals.get(id);
    if (!current || !ACTIVE_STATUSES.includes(current.status)) return;
    const startedAt = current.startedAt ?? (info.startedAt ? new Date(info.startedAt) : new Date());
    const ssh = info.ssh ? { host: info.ssh.host, port: info.ssh.port, user: info.ssh.user, command: info.ssh.command, hostKeyFingerprint: info.ssh.hostKeyFingerprint } : current.ssh;
    switch (info.state) {
      case RentalState.RENTAL_STATE_RUNNING:
      case RentalState.RENTAL_STATE_STARTING: {
        const expiresAt = current.request.maxDurationSeconds > 0 ? new Date(startedAt.getTime() + current.request.maxDurationSeconds * 1000) : null;
        const updated = await this.settle(id, { status: info.state === RentalState.RENTAL_STATE_RUNNING ? "running" : "starting", gpuIndices: info.gpuIndices, ssh, startedAt, expiresAt, reason: info.reason });
        this.armLimit(updated);
        return;
      }
      case RentalState.RENTAL_STATE_EXITED:
        await this.settle(id, { status: "exited", exitCode: info.exitCode, reason: info.reason, startedAt, endedAt: info.endedAt ? new Date(info.endedAt) : new Date() });
        return;
      case RentalState.RENTAL_STATE_STOPPED:
        await this.settle(id, { status: "stopped", reason: info.reason, startedAt, endedAt: info.endedAt ? new Date(info.endedAt) : new Date() });
        return;
      case RentalState.RENTAL_STATE_FAILED:
        await this.settle(id, { status: "failed", reason: info.reason, endedAt: new Date() });
        return;
      default:
        return;
    }
  }

  private async onRentalEvent(_nodeId: string, ev: RentalEvent): Promise<void> {
    if (ev.rental) await this.applyNodeView(ev.rental.rentalId, ev.rental);
  }

  /** A node's heartbeat lists every rental container it holds: the hub's record follows it. */
  private async onHeartbeat(nodeId: string, hb: Heartbeat): Promise<void> {
    const ours = await this.deps.store.rentals.list({ nodeIds: [nodeId], statuses: ["running", "node_offline"] });
    const reported = new Map(hb.rentals.map((r) => [r.rentalId, r]));
    for (const r of ours) {
      const info = reported.get(r.id);
      if (info) await this.applyNodeView(r.id, info);
      else await this.settle(r.id, { status: "exited", reason: "the node no longer runs it", endedAt: new Date() });
    }
    // Stopped here while the node was away: tell it now.
    for (const info of hb.rentals) {
      if (info.state !== RentalState.RENTAL_STATE_RUNNING) continue;
      const r = await this.deps.store.rentals.get(info.rentalId);
      if (r && !ACTIVE_STATUSES.includes(r.status) && this.deps.channel.isConnected(nodeId)) {
        await this.deps.channel.sendCommand(nodeId, { $case: "stopRental", value: { rentalId: r.id, timeoutSeconds: 10 } }, { timeoutMs: this.opts.commandTimeoutMs });
      }
    }
  }

  /** Offline is not failed: the rental may well be running; the node's next report settles it. */
  private async onNodeOffline(nodeId: string): Promise<void> {
    for (const r of await this.deps.store.rentals.list({ nodeIds: [nodeId], statuses: ["running", "starting"] })) {
      await this.settle(r.id, { status: "node_offline", reason: "the node stopped heartbeating" });
    }
  }

  private armLimit(r: HubRental): void {
    clearTimeout(this.timers.get(r.id));
    if (!r.expiresAt || !ACTIVE_STATUSES.includes(r.status)) return;
    const timer = setTimeout(
      () => {
        this.timers.delete(r.id);
        void this.guard(this.deps.store.rentals.get(r.id).then((cur) => cur && this.stop(cur, "duration limit reached")));
      },
      Math.max(0, Math.min(r.expiresAt.getTime() - Date.now(), 2 ** 31 - 1)),
    );
    timer.unref();
    this.timers.set(r.id, timer);
  }

  private async settle(id: string, patch: Partial<HubRental> & { status: RentalStatus }): Promise<HubRental> {
    await this.deps.store.rentals.update(id, patch);
    const updated = await this.deps.store.rentals.get(id);
    if (!updated) throw new Error(`rental ${id} vanished`);
    if (!ACTIVE_STATUSES.includes(updated.status)) {
      clearTimeout(this.timers.get(id));
      this.timers.delete(id);
    }
    this.emit("changed", updated);
    return updated;
  }

  private async guard(p: Promise<unknown>): Promise<void> {
    try {
      await p;
    } catch (err) {
      this.deps.logger.error({ err }, "rental book-keeping failed");
    }
  }
}

function stripNode(input: CreateRental): RentalRequest {
  const { nodeId: _node, ...request } = input;
  return request;
}
