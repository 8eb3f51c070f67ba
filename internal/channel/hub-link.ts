import { EventEmitter } from "node:events";
import { type ClientDuplexStream, Metadata, type ServiceError, status as GrpcStatus } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { NodeCredentials } from "../certs/cert-dir.js";
import {
  type CertificateBundle,
  type CommandResult,
  type Heartbeat,
  type Hello,
  type HubChannelServiceClient,
  type HubMessage,
  type NodeMessage,
  type RentalEvent,
  type Welcome,
} from "../proto/gen/gpunode/v1/gpunode.js";
import type { DaemonMetrics } from "../metrics/daemon-metrics.js";
import { isAbortError, sleep } from "../util/abort.js";
import type { CommandDispatcher } from "./command-dispatcher.js";
import { hubClient } from "./hub-client.js";
import { tcpReachable } from "./tcp-probe.js";
import { type ReconnectOptions, ReconnectPolicy } from "./reconnect-policy.js";

export interface HubLinkOptions extends ReconnectOptions {
  /** The hub's gRPC address, host:port. */
  target: string;
  /** A dial whose TCP connection does not open within this long is given up (the network is down). */
  connectTimeoutMs: number;
}

export const defaultHubLinkOptions: Omit<HubLinkOptions, "target"> = {
  // Capped at 3 s so that every daemon is back within 5 s of a hub restart.
  backoff: { initialMs: 250, maxMs: 3_000, factor: 2 },
  welcomeTimeoutMs: 10_000,
  busy: { maxWelcomeTimeoutMs: 60_000, maxBackoffMs: 30_000 },
  // With the 3 s backoff cap: back within about 5 s of the network's return, however long it was gone.
  connectTimeoutMs: 2_000,
};

/** Why a stream the hub opened but never welcomed ended (the hub is busy, not gone). */
export const NO_WELCOME = "no welcome from the hub";

export interface HubLinkDeps {
  logger: Logger;
  metrics: DaemonMetrics | null;
  credentials(): NodeCredentials;
  /** Why the current credentials cannot be used (e.g. expired), if they cannot. */
  unusable(): string | undefined;
  hello(): Promise<Hello>;
  heartbeat(seq: number): Promise<Heartbeat>;
  dispatcher: CommandDispatcher;
  /** The hub refused this node's certificate: come back with new credentials (a fresh sign-in). */
  onRefused(reason: string, signal: AbortSignal): Promise<void>;
}

/** Results kept for the next stream; beyond this the hub has long given up on the oldest. */
const MAX_UNDELIVERED = 256;
/** Rentals whose latest event waits for the next stream, at most (the oldest go first). */
const MAX_UNSENT_EVENTS = 256;

type Outcome = { kind: "lost"; reason: string } | { kind: "refused"; reason: string } | { kind: "stopped" };

interface LinkEvents {
  connected: [welcome: Welcome];
  disconnected: [reason: string];
  heartbeat: [seq: number];
  interval: [ms: number];
}

/** The daemon's one stream to the hub: kept open for the daemon's whole life, reopened with jittered backoff. */
export class HubLink extends EventEmitter<LinkEvents> {
  private seq = 0;
  private drop?: (reason: string) => void;
  private write?: (msg: NodeMessage) => void;
  private beatNow?: () => Promise<void>;
  private readonly undelivered: CommandResult[] = [];
  /** Rental events made while disconnected, the latest per rental, oldest first. */
  private readonly unsentEvents = new Map<string, RentalEvent>();
  connected = false;
  reconnects = 0;
  lastHeartbeatAt?: Date;

  constructor(
    private readonly opts: HubLinkOptions,
    private readonly deps: HubLinkDeps,
  ) {
    super();
  }

  get heartbeatsSent(): number {
    return this.seq;
  }

  /** Until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const policy = new ReconnectPolicy(this.opts);
    while (!signal.aborted) {
      const outcome = await this.session(signal, policy.welcomeTimeoutMs(), () => policy.welcomed());
      if (outcome.kind === "stopped") return;
      this.reconnects++;
      this.deps.metrics?.hubReconnects.inc();
      try {
        if (outcome.kind === "refused") {
          this.deps.logger.warn({ reason: outcome.reason }, "the hub refused this node's certificate; signing in again");
          await this.deps.onRefused(outcome.reason, signal);
          continue;
        }
        const delay = policy.nextDelayMs(outcome.reason === NO_WELCOME);
        this.deps.logger.warn({ reason: outcome.reason, retryInMs: delay }, "lost the hub; reconnecting");
        await sleep(delay, signal);
      } catch (err) {
        if (isAbortError(err, signal)) return;
        const delay = policy.nextDelayMs(false);
        this.deps.logger.error({ err, retryInMs: delay }, "could not recover the hub connection");
        await sleep(delay, signal).catch(() => undefined);
      }
    }
  }

  /**
   * Sends a report on the current stream. While disconnected, a rental's latest event is kept and
   * sent after the next Welcome (how and when it ended reaches the hub even if it leaves the
   * heartbeat meanwhile); pull progress is dropped.
   */
  notify(body: NonNullable<NodeMessage["body"]>): void {
    if (this.write) return this.write({ body });
    if (body.$case !== "rentalEvent" || !body.value.rental) return;
    const id = body.value.rental.rentalId;
    this.unsentEvents.delete(id);
    this.unsentEvents.set(id, body.value);
    if (this.unsentEvents.size > MAX_UNSENT_EVENTS) this.unsentEvents.delete(this.unsentEvents.keys().next().value as string);
  }

  /**
   * Sends a heartbeat now, out of schedule, built after this call (so it carries a state that just
   * changed, e.g. draining). Resolves false when no stream is open: the next Hello carries it.
   */
  async heartbeatNow(): Promise<boolean> {
    const beat = this.beatNow;
    if (!beat || !this.connected) return false;
    await beat();
    return true;
  }

  /** On the current stream, or on the next one when the stream that carried the command is gone. */
  private deliver(result: CommandResult): void {
    if (this.write) return this.write({ body: { $case: "commandResult", value: result } });
    this.undelivered.push(result);
    if (this.undelivered.length > MAX_UNDELIVERED) this.undelivered.shift();
  }

  /** Ends the current stream so the next one uses fresh credentials (after a rotation). */
  reconnect(reason: string): void {
    this.drop?.(reason);
  }

  /** Rotation over the node's current mTLS identity. */
  async renewCertificate(csrPem: string, signal: AbortSignal): Promise<CertificateBundle> {
    const client = this.client();
    try {
      return await new Promise<CertificateBundle>((resolve, reject) => {
        const call = client.renewCertificate({ csrPem }, new Metadata(), { deadline: Date.now() + 30_000 }, (err, res) => {
          if (err) return reject(new Error(`certificate renewal refused: ${err.details || err.message}`));
          if (!res.bundle) return reject(new Error("the hub answered the renewal without a certificate"));
          resolve(res.bundle);
        });
        signal.addEventListener("abort", () => call.cancel(), { once: true });
      });
    } finally {
      client.close();
    }
  }

  private client(): HubChannelServiceClient {
    return hubClient(this.opts.target, this.deps.credentials());
  }

  private async session(signal: AbortSignal, welcomeTimeoutMs: number, onWelcome: () => void): Promise<Outcome> {
    const log = this.deps.logger;
    const unusable = this.deps.unusable();
    if (unusable) return { kind: "refused", reason: unusable };
    // No stream into a black hole: it would sit in TCP's retries well past the network's return.
    if (!(await tcpReachable(this.opts.target, this.opts.connectTimeoutMs, signal))) {
      return signal.aborted ? { kind: "stopped" } : { kind: "lost", reason: `no TCP answer from ${this.opts.target} within ${this.opts.connectTimeoutMs / 1000} s` };
    }
    const hello = await this.deps.hello();
    const client = this.client();
    const call: ClientDuplexStream<NodeMessage, HubMessage> = client.connect();
    return new Promise<Outcome>((resolve) => {
      let heartbeatTimer: NodeJS.Timeout | undefined;
      let intervalMs = 0;
      let settled = false;
      const finish = (outcome: Outcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(welcomeTimer);
        clearTimeout(heartbeatTimer);
        signal.removeEventListener("abort", onAbort);
        this.drop = undefined;
        this.write = undefined;
        this.beatNow = undefined;
        call.cancel();
        client.close();
        if (this.connected) this.emit("disconnected", outcome.kind === "stopped" ? "stopped" : outcome.reason);
        this.connected = false;
        resolve(outcome);
      };
      const onAbort = (): void => finish({ kind: "stopped" });
      signal.addEventListener("abort", onAbort, { once: true });
      this.drop = (reason) => finish({ kind: "lost", reason });
      const welcomeTimer = setTimeout(() => finish({ kind: "lost", reason: NO_WELCOME }), welcomeTimeoutMs);

      const send = (msg: NodeMessage): void => {
        if (!settled) call.write(msg);
      };
      const beatOnce = async (): Promise<void> => {
        clearTimeout(heartbeatTimer);
        if (settled) return;
        try {
          const hb = await this.deps.heartbeat(this.seq + 1);
          if (settled) return;
          this.seq = hb.seq;
          send({ body: { $case: "heartbeat", value: hb } });
          this.lastHeartbeatAt = new Date();
          this.deps.metrics?.heartbeatsSent.inc();
          this.emit("heartbeat", hb.seq);
        } catch (err) {
          log.error({ err }, "could not build a heartbeat");
        }
        if (settled) return;
        clearTimeout(heartbeatTimer);
        heartbeatTimer = setTimeout(() => void beat(), intervalMs);
      };
      // One heartbeat at a time, each built after the one before was sent: seq never repeats.
      let chain = Promise.resolve();
      const beat = (): Promise<void> => (chain = chain.then(beatOnce));

      call.on("data", (msg: HubMessage) => {
        const body = msg.body;
        if (body?.$case === "welcome") {
          clearTimeout(welcomeTimer);
          intervalMs = body.value.heartbeatIntervalMs || 30_000;
          this.connected = true;
          this.write = send;
          this.beatNow = beat;
          // Results of commands that outlived the stream they came on.
          for (const result of this.undelivered.splice(0)) send({ body: { $case: "commandResult", value: result } });
          for (const event of this.unsentEvents.values()) send({ body: { $case: "rentalEvent", value: event } });
          this.unsentEvents.clear();
          onWelcome();
          this.emit("connected", body.value);
          void beat(); // at once on connect, then every interval
        } else if (body?.$case === "settings") {
          if (body.value.heartbeatIntervalMs > 0 && body.value.heartbeatIntervalMs !== intervalMs) {
            intervalMs = body.value.heartbeatIntervalMs;
            log.info({ intervalMs }, "the hub changed the heartbeat interval");
            this.emit("interval", intervalMs);
            clearTimeout(heartbeatTimer);
            heartbeatTimer = setTimeout(() => void beat(), intervalMs);
          }
        } else if (body?.$case === "command") {
          // The daemon's signal, not this stream's: a reconnect must not abort a rental start mid-pull.
          void this.deps.dispatcher.dispatch(body.value, signal).then((result) => this.deliver(result));
        }
      });
      call.on("error", (err: ServiceError) => {
        const refused = err.code === GrpcStatus.UNAUTHENTICATED || err.code === GrpcStatus.PERMISSION_DENIED;
        finish({ kind: refused ? "refused" : "lost", reason: err.details || err.message });
      });
      call.on("end", () => finish({ kind: "lost", reason: "the hub closed the stream" }));
      send({ body: { $case: "hello", value: hello } });
    });
  }
}
