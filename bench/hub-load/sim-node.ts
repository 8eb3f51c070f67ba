/**
 * One simulated node: the daemon's dial (see dial.ts: its own certificate, mTLS, keepalive), one
 * bidi stream, Hello, heartbeats at the interval the hub's Welcome names, immediate answers to
 * commands, and the daemon's reconnect backoff. Heartbeats: the first at once on Welcome, as the
 * daemon sends it; the second at a random point of the first interval, so that a fleet that
 * connected in a burst heartbeats spread out as a long-running fleet does; then every interval.
 */
import { setMaxListeners } from "node:events";
import { Metadata, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import { defaultHubLinkOptions, NO_WELCOME } from "../../internal/channel/hub-link.js";
import { tcpReachable } from "../../internal/channel/tcp-probe.js";
import { ReconnectPolicy } from "../../internal/channel/reconnect-policy.js";
import {
  GpuActivity,
  Heartbeat,
  NodeInfo,
  RentalState,
  type Command,
  type CommandResult,
  type GpuStatus,
  type HubChannelServiceClient,
  type HubMessage,
  type NodeMessage,
  type RentalInfo,
} from "../../internal/proto/gen/gpunode/v1/gpunode.js";
import { sleep } from "../../internal/util/abort.js";
import { simNodeClient } from "./dial.js";
import { simGpus } from "./fleet.js";
import type { SimNodeIdentity } from "./sign-worker.js";

export interface SimFleetOptions {
  /** The hub's gRPC address; several (replicas): the first dial goes to the first, each redial to the next, as a round-robin balancer would send it. */
  target: string | string[];
  caCertPem: string;
  gpuCount: number;
  /** Paces redials after a lost stream (see DialGate); none: every node redials on its own schedule only. */
  redialGate?: DialGate;
}

/**
 * At most `limit` simulated nodes between dial and Welcome. The whole fleet shares this one process:
 * unpaced, ten thousand TLS handshakes at once stall its event loop for tens of seconds, every
 * node's Welcome timeout runs out on the bench's side, and the bench measures itself, not the hub.
 */
export class DialGate {
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  /** Resolves with the function that gives the slot back (safe to call twice). */
  async enter(signal: AbortSignal): Promise<() => void> {
    while (this.inFlight >= this.limit && !signal.aborted) {
      await new Promise<void>((resolve) => {
        this.waiting.push(resolve);
        signal.addEventListener("abort", () => resolve(), { once: true });
      });
    }
    this.inFlight++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.inFlight--;
      this.waiting.shift()?.();
    };
  }
}

/** Counters shared by every node of the fleet; read by the bench between phases. */
export class FleetCounters {
  connected = 0;
  heartbeatsSent = 0;
  commandsAnswered = 0;
  reconnects = 0;
  /** Why streams were lost or refused, first words of the reason -> count. */
  readonly lost = new Map<string, number>();
  /** Milliseconds from starting a node (SimNode.run) to its first Welcome. */
  readonly connectMs: number[] = [];
  /** Milliseconds from a lost stream to the next Welcome. */
  readonly reconnectMs: number[] = [];

  noteLost(reason: string): void {
    const key = reason.split(/[:;(]/)[0]?.trim().slice(0, 60) || "unknown";
    this.lost.set(key, (this.lost.get(key) ?? 0) + 1);
  }
}

const VERSIONS = { daemon: "bench", nodeRuntime: process.version, driver: "550.54.15", cudaDriver: "12.4", docker: "", os: "bench" };

/**
 * Starts nodes and stops them again; at most `concurrency` nodes are between their first dial and
 * their first Welcome (or first failure) at any time, so a ramp measures the hub's connect rate
 * instead of a thundering herd.
 */
export class FleetDriver {
  private ctl = new AbortController();
  private runs: Array<Promise<void>> = [];

  constructor(private readonly parent: AbortSignal) {}

  async start(nodes: SimNode[], concurrency: number): Promise<void> {
    const signal = AbortSignal.any([this.ctl.signal, this.parent]);
    setMaxListeners(0, signal); // every node listens to it
    let inFlight = 0;
    let wake: (() => void) | undefined;
    for (const node of nodes) {
      while (inFlight >= concurrency && !signal.aborted) await Promise.race([new Promise<void>((r) => (wake = r)), sleep(1_000)]);
      if (signal.aborted) return;
      inFlight++;
      this.runs.push(
        node.run(signal, () => {
          inFlight--;
          wake?.();
        }),
      );
    }
  }

  /** Ends every node's stream; waits at most maxWaitMs for them to wind down. */
  async stop(maxWaitMs: number): Promise<void> {
    this.ctl.abort();
    await Promise.race([Promise.allSettled(this.runs), sleep(maxWaitMs)]);
    this.ctl = new AbortController();
    this.runs = [];
  }
}

/** Until `n` nodes are connected or timeoutMs passed; returns the milliseconds waited. */
export async function waitConnected(counters: FleetCounters, n: number, timeoutMs: number, signal: AbortSignal): Promise<number> {
  const t = Date.now();
  while (counters.connected < n && Date.now() - t < timeoutMs && !signal.aborted) await sleep(50).catch(() => undefined);
  return Date.now() - t;
}

export class SimNode {
  private seq = 0;
  private readonly startedAt = Date.now();
  private readonly rentals = new Map<string, RentalInfo>();
  private readonly gpus: GpuStatus[];
  private readonly info: NodeInfo;
  private template?: Heartbeat;
  /** Set by the bench for the stress case: heartbeat this often, whatever the hub's Welcome said. */
  private overrideMs?: number;
  private retime?: (ms: number) => void;
  private dials = 0;
  connected = false;

  constructor(
    private readonly id: SimNodeIdentity,
    private readonly opts: SimFleetOptions,
    private readonly counters: FleetCounters,
  ) {
    this.gpus = simGpus(id.nodeId, opts.gpuCount).map((g) => ({
      ...g,
      activity: GpuActivity.GPU_ACTIVITY_FREE,
      rentalId: "",
      healthy: true,
      error: "",
      utilizationGpuPercent: 0,
      utilizationMemoryPercent: 0,
      memoryUsedBytes: 0,
      memoryFreeBytes: g.memoryTotalBytes,
      temperatureCelsius: 35,
      powerDrawMilliwatts: 70_000,
      powerLimitMilliwatts: 700_000,
    }));
    this.info = NodeInfo.fromPartial({ host: "127.0.0.1", apiPort: 8444, pricePerSecWei: "1000000000", versions: VERSIONS, gpus: simGpus(id.nodeId, opts.gpuCount) });
  }

  /** From now on heartbeat every `ms` (the next one at a random point of the first interval); undefined: as the hub says. */
  heartbeatEvery(ms: number | undefined): void {
    this.overrideMs = ms;
    if (ms !== undefined) this.retime?.(ms);
  }

  get nodeId(): string {
    return this.id.nodeId;
  }

  /**
   * Keeps one stream open until the signal aborts. `onFirstOutcome` is called once: at the first
   * Welcome (true) or when the first attempt fails (false); the ramp uses it as its slot release.
   */
  async run(signal: AbortSignal, onFirstOutcome: (ok: boolean) => void): Promise<void> {
    const dialFrom = Date.now();
    let welcomed = false;
    const policy = new ReconnectPolicy(defaultHubLinkOptions);
    let first: ((ok: boolean) => void) | undefined = onFirstOutcome;
    const once = (ok: boolean): void => {
      first?.(ok);
      first = undefined;
    };
    let lostAt: number | undefined;
    while (!signal.aborted) {
      const leave = lostAt !== undefined ? await this.opts.redialGate?.enter(signal) : undefined;
      const reason = await this.session(signal, policy.welcomeTimeoutMs(), () => {
        leave?.();
        policy.welcomed();
        if (!welcomed) this.counters.connectMs.push(Date.now() - dialFrom);
        else if (lostAt !== undefined) this.counters.reconnectMs.push(Date.now() - lostAt);
        welcomed = true;
        lostAt = undefined;
        once(true);
      });
      leave?.();
      if (reason === undefined) break;
      once(false);
      lostAt ??= Date.now();
      this.counters.noteLost(reason);
      this.counters.reconnects++;
      await sleep(policy.nextDelayMs(reason === NO_WELCOME), signal).catch(() => undefined);
    }
    once(false);
  }

  /** One stream; resolves with why it ended, or undefined when the signal stopped it. */
  private async session(signal: AbortSignal, welcomeTimeoutMs: number, onWelcome: () => void): Promise<string | undefined> {
    const targets = typeof this.opts.target === "string" ? [this.opts.target] : this.opts.target;
    const target = targets[this.dials++ % targets.length] ?? "";
    // As the daemon does (HubLink): no stream until a TCP connection to the hub opens.
    if (!(await tcpReachable(target, defaultHubLinkOptions.connectTimeoutMs, signal))) return signal.aborted ? undefined : "no TCP answer";
    const client: HubChannelServiceClient = simNodeClient(target, { caCertPem: this.opts.caCertPem, keyPem: this.id.keyPem, clientCertPem: this.id.clientCertPem });
    const call: ClientDuplexStream<NodeMessage, HubMessage> = client.connect(new Metadata());
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const finish = (reason: string | undefined): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(welcomeTimer);
        signal.removeEventListener("abort", onAbort);
        this.retime = undefined;
        if (this.connected) this.counters.connected--;
        this.connected = false;
        call.cancel();
        client.close();
        resolve(reason);
      };
      const onAbort = (): void => finish(undefined);
      signal.addEventListener("abort", onAbort, { once: true });
      const welcomeTimer = setTimeout(() => finish(NO_WELCOME), welcomeTimeoutMs);
      const send = (msg: NodeMessage): void => {
        if (!settled) call.write(msg);
      };
      let intervalMs = 30_000;
      const beat = (): void => {
        if (settled) return;
        send({ body: { $case: "heartbeat", value: this.heartbeat() } });
        this.counters.heartbeatsSent++;
      };
      const every = (): void => {
        beat();
        timer = setTimeout(every, intervalMs);
      };
      call.on("data", (msg: HubMessage) => {
        const body = msg.body;
        if (body?.$case === "welcome") {
          clearTimeout(welcomeTimer);
          intervalMs = this.overrideMs ?? (body.value.heartbeatIntervalMs || intervalMs);
          this.retime = (ms) => {
            intervalMs = ms;
            clearTimeout(timer);
            timer = setTimeout(every, Math.random() * ms);
          };
          this.connected = true;
          this.counters.connected++;
          onWelcome();
          beat();
          timer = setTimeout(every, Math.random() * intervalMs);
        } else if (body?.$case === "settings" && body.value.heartbeatIntervalMs > 0 && this.overrideMs === undefined) {
          intervalMs = body.value.heartbeatIntervalMs;
        } else if (body?.$case === "command") {
          send({ body: { $case: "commandResult", value: this.answer(body.value) } });
          this.counters.commandsAnswered++;
        }
      });
      call.on("error", (err: ServiceError) => finish(`${err.code}: ${err.details || err.message}`));
      call.on("end", () => finish("the hub closed the stream"));
      send({ body: { $case: "hello", value: { nodeId: this.id.nodeId, info: this.info } } });
    });
  }

  private heartbeat(): Heartbeat {
    // fromPartial: fields this build of the proto adds later keep their defaults.
    this.template ??= Heartbeat.fromPartial({ nodeId: this.id.nodeId, versions: VERSIONS, gpus: this.gpus });
    return { ...this.template, seq: ++this.seq, uptimeSeconds: Math.floor((Date.now() - this.startedAt) / 1000), sentAtUnixMs: Date.now(), rentals: [...this.rentals.values()] };
  }

  /** What a daemon answers, minus the work: rentals are book-kept, never run. */
  private answer(cmd: Command): CommandResult {
    const reply = (outcome: CommandResult["outcome"]): CommandResult => ({ commandId: cmd.id, outcome, repeated: false });
    const body = cmd.body;
    switch (body?.$case) {
      case "ping":
        return reply({ $case: "ping", value: { payload: body.value.payload, runs: 1 } });
      case "startRental": {
        const info: RentalInfo = {
          rentalId: body.value.rentalId,
          state: RentalState.RENTAL_STATE_RUNNING,
          image: body.value.image,
          gpuIndices: [],
          gpuUuids: [],
          containerId: `sim-${body.value.rentalId}`,
          ssh: undefined,
          exitCode: 0,
          oomKilled: false,
          reason: "",
          startedAt: new Date().toISOString(),
          endedAt: "",
          adopted: false,
        };
        this.rentals.set(info.rentalId, info);
        return reply({ $case: "rental", value: info });
      }
      case "stopRental": {
        const info = this.rentals.get(body.value.rentalId);
        this.rentals.delete(body.value.rentalId);
        if (!info) return reply({ $case: "error", value: { code: "unknown_rental", message: `no rental ${body.value.rentalId}` } });
        return reply({ $case: "rental", value: { ...info, state: RentalState.RENTAL_STATE_STOPPED, endedAt: new Date().toISOString() } });
      }
      case "getRentalLogs":
        return reply({ $case: "rentalLogs", value: { rentalId: body.value.rentalId, text: "simulated node: no container\n" } });
      default:
        return reply({ $case: "error", value: { code: "unknown_command", message: `the simulated node does not handle ${body?.$case ?? "an empty"} command` } });
    }
  }
}
