import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { type ServerDuplexStream, type ServerUnaryCall, type sendUnaryData, status as GrpcStatus } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { HubMetrics } from "../../metrics/hub-metrics.js";
import { nodeIdOfPeer } from "../../certs/identity.js";
import type {
  Command,
  CommandResult,
  HubChannelServiceServer,
  Heartbeat,
  HubMessage,
  ImagePullProgress,
  NodeMessage,
  RentalEvent,
  RenewCertificateRequest,
  RenewCertificateResponse,
} from "../../proto/gen/gpunode/v1/gpunode.js";
import { ApiError } from "../http/api-error.js";
import type { HeartbeatBuffer } from "../heartbeat-buffer.js";
import type { Presence } from "../presence.js";
import { nodeInfoSchema } from "../../hubapi/nodes.js";
import type { NodeRegistry } from "../registry/node-registry.js";
import type { AccessControl } from "../access/access-control.js";
import { NodeDisconnectedError, NodeSession, NodeTimeoutError } from "./node-session.js";

export interface HubChannelOptions {
  heartbeatIntervalMs: number;
  hubVersion: string;
}

export interface HubChannelDeps {
  registry: NodeRegistry;
  access: AccessControl;
  presence: Presence;
  heartbeats: HeartbeatBuffer;
  logger: Logger;
  metrics: HubMetrics | null;
  /** Replicas: a stream opened here claims the node; its close and draining are told to the others. */
  ownership?: StreamOwnership;
}

export interface StreamOwnership {
  claim(nodeId: string, draining: boolean): Promise<void>;
  linkChanged(nodeId: string, connected: boolean, draining: boolean): void;
}

type StreamCall = ServerDuplexStream<NodeMessage, HubMessage>;

export interface NodeReports {
  rentalEvent: [nodeId: string, event: RentalEvent];
  pullProgress: [nodeId: string, progress: ImagePullProgress];
  heartbeat: [nodeId: string, heartbeat: Heartbeat];
  /** The node started or stopped draining (said in Hello or a heartbeat). */
  draining: [nodeId: string, draining: boolean];
}

/** The hub's end of every node's stream, and the way the rest of the hub sends them commands. */
export class HubChannel {
  private readonly sessions = new Map<string, NodeSession>();
  /** Nodes that said (in Hello or their latest heartbeat) they take no new rentals. */
  private readonly draining = new Set<string>();
  /** What nodes report on streams held here, without being asked; the rental book-keeping listens here. */
  readonly events = new EventEmitter<NodeReports>();
  private heartbeatIntervalMs: number;

  constructor(
    private readonly opts: HubChannelOptions,
    private readonly deps: HubChannelDeps,
  ) {
    this.heartbeatIntervalMs = opts.heartbeatIntervalMs;
    deps.access.on("changed", () => this.enforceAccess());
  }

  readonly service: HubChannelServiceServer = {
    connect: (call) => void this.accept(call),
    renewCertificate: (call, callback) => void this.renew(call, callback),
  };

  isConnected(nodeId: string): boolean {
    return this.sessions.get(nodeId)?.isOpen ?? false;
  }

  connectedCount(): number {
    return this.sessions.size;
  }

  /** As the node last said; kept while it is away (its next Hello says again). */
  isDraining(nodeId: string): boolean {
    return this.draining.has(nodeId);
  }

  /** Connected nodes that are draining. */
  drainingCount(): number {
    let n = 0;
    for (const id of this.sessions.keys()) if (this.draining.has(id)) n++;
    return n;
  }

  /**
   * Sends a command and waits for its result. The id is the hub's to choose; pass one to repeat a command.
   * Fails with NodeDisconnectedError when the node is (or goes) away, NodeTimeoutError when it is too slow.
   */
  async sendCommand(nodeId: string, body: Command["body"], opts: { timeoutMs: number; id?: string; signal?: AbortSignal }): Promise<CommandResult> {
    const session = this.sessions.get(nodeId);
    if (!session?.isOpen) {
      this.deps.metrics?.commandsSent.inc({ type: body?.$case ?? "empty", outcome: "disconnected" });
      throw new NodeDisconnectedError(`node ${nodeId} is not connected`);
    }
    const timeout = AbortSignal.timeout(opts.timeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    const type = body?.$case ?? "empty";
    try {
      const result = await session.request({ id: opts.id ?? randomUUID(), body }, signal);
      this.deps.metrics?.commandsSent.inc({ type, outcome: result.outcome?.$case === "error" ? result.outcome.value.code : "ok" });
      return result;
    } catch (err) {
      this.deps.metrics?.commandsSent.inc({ type, outcome: timeout.aborted ? "timeout" : err instanceof NodeDisconnectedError ? "disconnected" : "failed" });
      if (timeout.aborted && !opts.signal?.aborted) throw new NodeTimeoutError(`node ${nodeId} did not answer ${type} within ${opts.timeoutMs / 1000} s`);
      throw err;
    }
  }

  /** Tells every connected node to heartbeat at a new interval (and the presence tracker to count by it). */
  setHeartbeatInterval(ms: number): void {
    this.heartbeatIntervalMs = ms;
    this.deps.presence.setIntervalMs(ms);
    for (const s of this.sessions.values()) s.send({ body: { $case: "settings", value: { heartbeatIntervalMs: ms } } });
  }

  /** The node's stream opened on another replica: the one here (if any) is stale. */
  release(nodeId: string): void {
    const session = this.sessions.get(nodeId);
    if (!session) return;
    this.sessions.delete(nodeId);
    session.close("the node connected to another hub replica");
  }

  closeAll(): void {
    for (const s of this.sessions.values()) s.close("hub shutting down");
    this.sessions.clear();
  }

  private async accept(call: StreamCall): Promise<void> {
    const log = this.deps.logger;
    const nodeId = nodeIdOfPeer(call.getAuthContext()?.sslPeerCertificate);
    if (!nodeId) return refuse(call, GrpcStatus.UNAUTHENTICATED, "client certificate carries no node identity");
    let node;
    try {
      node = await this.deps.registry.getNode(nodeId);
    } catch (err) {
      log.error({ err, nodeId }, "node lookup failed");
      return refuse(call, GrpcStatus.UNAVAILABLE, "hub store unavailable; try again");
    }
    if (!node) return refuse(call, GrpcStatus.UNAUTHENTICATED, `node ${nodeId} is not registered with this hub; sign in again`);
    const serial = peerSerial(call);
    const denied = this.deps.access.nodeRefusal(nodeId, node.wallet, serial);
    if (denied) {
      log.warn({ nodeId, code: denied.code }, "refused a node's stream");
      return refuse(call, refusalStatus(denied.code), `${denied.code}: ${denied.message}`);
    }

    const session = new NodeSession(nodeId, { wallet: node.wallet, serial }, call, log.child({ nodeId }));
    // Messages are handled one after another: a heartbeat must not overtake the hello before it.
    let queue = Promise.resolve();
    let greeted = false;
    call.on("data", (msg: NodeMessage) => {
      queue = queue
        .then(async () => {
          if (!session.isOpen) return;
          greeted = (await this.onMessage(session, msg, greeted)) || greeted;
        })
        .catch((err: unknown) => {
          session.logger.warn({ err }, "refusing a message from the node");
          refuse(call, GrpcStatus.INVALID_ARGUMENT, err instanceof Error ? err.message : String(err));
        });
    });
    const end = (why: string) => () => {
      session.close(why);
      if (this.sessions.get(nodeId) === session) {
        this.sessions.delete(nodeId);
        session.logger.info({ why }, "node stream closed");
        this.deps.ownership?.linkChanged(nodeId, false, this.draining.has(nodeId));
      }
    };
    call.on("end", end("stream ended"));
    call.on("cancelled", end("cancelled"));
    call.on("error", end("stream error"));
    call.on("close", end("closed"));
  }

  /** Returns true once the node has said Hello. */
  private async onMessage(session: NodeSession, msg: NodeMessage, greeted: boolean): Promise<boolean> {
    const body = msg.body;
    if (!body) throw new Error("empty message");
    if (!greeted && body.$case !== "hello") throw new Error("the first message on a stream must be hello");
    switch (body.$case) {
      case "hello": {
        if (body.value.nodeId !== session.nodeId) throw new Error(`hello names node ${body.value.nodeId}, but the certificate is for ${session.nodeId}`);
        const info = body.value.info;
        const checked = nodeInfoSchema.safeParse(info);
        if (!info || !checked.success) throw new Error(`hello.info is invalid: ${checked.error?.issues[0]?.message ?? "missing"}`);
        await this.deps.registry.describe(session.nodeId, info);
        this.setDraining(session.nodeId, info.draining);
        await this.deps.ownership?.claim(session.nodeId, info.draining);
        this.sessions.get(session.nodeId)?.close("replaced by a new stream");
        this.sessions.set(session.nodeId, session);
        session.send({ body: { $case: "welcome", value: { nodeId: session.nodeId, heartbeatIntervalMs: this.heartbeatIntervalMs, hubVersion: this.opts.hubVersion } } });
        session.logger.info({ host: info.host, gpus: info.gpus.length }, "node connected");
        return true;
      }
      case "heartbeat": {
        if (body.value.nodeId !== session.nodeId) throw new Error(`heartbeat names node ${body.value.nodeId}, but the certificate is for ${session.nodeId}`);
        this.deps.heartbeats.record(body.value);
        this.setDraining(session.nodeId, body.value.draining);
        this.deps.presence.heartbeat(session.nodeId);
        this.deps.metrics?.heartbeatsReceived.inc();
        this.events.emit("heartbeat", session.nodeId, body.value);
        session.logger.debug({ seq: body.value.seq }, "heartbeat");
        return true;
      }
      case "commandResult":
        session.settle(body.value);
        return true;
      case "rentalEvent":
        session.logger.info({ rental: body.value.rental }, "rental event");
        this.events.emit("rentalEvent", session.nodeId, body.value);
        return true;
      case "pullProgress":
        session.logger.debug({ progress: body.value }, "image pull progress");
        this.events.emit("pullProgress", session.nodeId, body.value);
        return true;
    }
  }

  private setDraining(nodeId: string, draining: boolean): void {
    if (draining === this.draining.has(nodeId)) return;
    if (draining) this.draining.add(nodeId);
    else this.draining.delete(nodeId);
    this.deps.logger.info({ nodeId, draining }, draining ? "node draining: no new rentals go to it" : "node takes rentals again");
    this.events.emit("draining", nodeId, draining);
    if (this.sessions.has(nodeId)) this.deps.ownership?.linkChanged(nodeId, true, draining);
  }

  /** Cuts the streams that a new ban or revocation shuts out. */
  private enforceAccess(): void {
    for (const session of this.sessions.values()) {
      const denied = this.deps.access.nodeRefusal(session.nodeId, session.peer.wallet, session.peer.serial);
      if (!denied) continue;
      session.logger.warn({ code: denied.code }, "closing a node's stream: the operator shut it out");
      session.refuse(refusalStatus(denied.code), `${denied.code}: ${denied.message}`);
    }
  }

  private async renew(call: ServerUnaryCall<RenewCertificateRequest, RenewCertificateResponse>, callback: sendUnaryData<RenewCertificateResponse>): Promise<void> {
    const nodeId = nodeIdOfPeer(call.getAuthContext()?.sslPeerCertificate);
    if (!nodeId) return callback({ code: GrpcStatus.UNAUTHENTICATED, details: "client certificate carries no node identity" });
    const node = await this.deps.registry.getNode(nodeId).catch(() => undefined);
    const denied = node && this.deps.access.nodeRefusal(nodeId, node.wallet, peerSerial(call));
    if (denied) return callback({ code: refusalStatus(denied.code), details: `${denied.code}: ${denied.message}` });
    try {
      const bundle = await this.deps.registry.renew(nodeId, call.request.csrPem);
      callback(null, { bundle });
    } catch (err) {
      if (err instanceof ApiError) {
        const code = err.status === 404 ? GrpcStatus.UNAUTHENTICATED : GrpcStatus.INVALID_ARGUMENT;
        return callback({ code, details: `${err.code}: ${err.message}` });
      }
      this.deps.logger.error({ err, nodeId }, "certificate renewal failed");
      callback({ code: GrpcStatus.INTERNAL, details: "renewal failed; see the hub's log" });
    }
  }
}

/** A revoked certificate is a reason to sign in again (UNAUTHENTICATED); a ban is not (PERMISSION_DENIED). */
function refusalStatus(code: "node_banned" | "wallet_banned" | "certificate_revoked"): GrpcStatus {
  return code === "certificate_revoked" ? GrpcStatus.UNAUTHENTICATED : GrpcStatus.PERMISSION_DENIED;
}

/** The serial of the client certificate, lowercase hex as the hub records it. */
function peerSerial(call: { getAuthContext(): { sslPeerCertificate?: { serialNumber?: string } } | undefined }): string {
  return (call.getAuthContext()?.sslPeerCertificate?.serialNumber ?? "").toLowerCase();
}

function refuse(call: StreamCall, code: GrpcStatus, details: string): void {
  call.emit("error", { code, details });
}
