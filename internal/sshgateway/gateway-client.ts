import { createConnection, type Socket } from "node:net";
import type { Logger } from "../log/logger.js";
import { SshGatewayError } from "../ssh/errors.js";
import { loadOrCreateHostKey } from "../ssh/host-key.js";
import type { PortRange } from "../ssh/port-range.js";
import type { SshAccess } from "../ssh/ssh-access.js";
import type { HostKeyPin, SshListeners } from "../ssh/ssh-listeners.js";
import { Backoff } from "../util/backoff.js";
import { type GatewayCall, type GatewayResponse, gatewayResponse, lineReader, PROTOCOL_VERSION } from "./protocol.js";

export interface GatewayClientOptions {
  socketPath: string;
  /** Sent to the gateway at every connection: it listens where the daemon's settings say. */
  listenHost: string;
  ports: PortRange;
  /** The gateway's host key file: read for the pin when the gateway has not answered yet. */
  hostKeyPath: string;
}

export interface GatewayClientDeps {
  logger: Logger;
  /** Told when the gateway starts or stops answering (with why): the node's notices say so. */
  onReachable?(reachable: boolean, why: string): void;
}

/** How long start() waits for a gateway that is starting beside the daemon (systemd starts both at boot). */
export const START_WAIT_MS = 3_000;
/** How long a new rental's open waits for a gateway that is reconnecting before the start fails. */
export const OPEN_WAIT_MS = 5_000;
const RECONNECT = { initialMs: 200, maxMs: 5_000, factor: 2 };

type Ok = Extract<GatewayResponse, { ok: true }>;

/**
 * The daemon's side of node-ssh-gateway (-ssh-gateway external). It remembers what it asked for, so a
 * gateway that restarts gets the whole set again when the connection is back; a daemon that restarts
 * adopts its rentals (each open finds the gateway's listener already there, sessions and all), then
 * reconcile() tells the gateway to close what no rental of this daemon holds any more.
 */
export class GatewayClient implements SshListeners {
  private readonly log: Logger;
  private socket: Socket | undefined;
  private ready = false;
  private readonly waiters = new Set<() => void>();
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(r: Ok): void; reject(e: Error): void }>();
  /** Every rental this daemon has given SSH access, as last asked: replayed to a gateway that reconnects. */
  private readonly wanted = new Map<string, { access: SshAccess; port: number }>();
  /** Closes asked for while the gateway was away: sent when it is back. */
  private readonly closedWhileAway = new Set<string>();
  /** Set by reconcile(): `wanted` is the daemon's whole set, so the gateway may close the rest. */
  private complete = false;
  private pin: HostKeyPin | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  private readonly backoff = new Backoff(RECONNECT);
  /** Why the last attempt failed; a repeat of the same reason is logged at debug only. */
  private lastFailure = "";
  private wasReachable: boolean | undefined;

  constructor(
    private readonly opts: GatewayClientOptions,
    private readonly deps: GatewayClientDeps,
  ) {
    this.log = deps.logger.child({ component: "ssh-gateway-client" });
  }

  /** Connects, waiting up to START_WAIT_MS for a gateway that is starting; keeps trying in the background after. */
  async start(): Promise<boolean> {
    this.connect();
    return this.untilReady(START_WAIT_MS);
  }

  async open(access: SshAccess, preferredPort?: number): Promise<{ port: number }> {
    const adopting = preferredPort !== undefined;
    // Adoption while the gateway is away: the rental keeps its port, and the gateway gets it when it answers.
    if (!this.ready && adopting) return this.want(access, preferredPort);
    if (!(await this.untilReady(OPEN_WAIT_MS))) throw this.unavailable();
    try {
      const res = await this.call({ op: "open", access, ...(adopting ? { preferredPort } : {}) });
      return this.want(access, res.port ?? 0);
    } catch (err) {
      if (adopting && err instanceof SshGatewayError && err.code === "gateway_unavailable") return this.want(access, preferredPort);
      throw err;
    }
  }

  async close(rentalId: string): Promise<void> {
    this.wanted.delete(rentalId);
    if (!this.ready) return void this.closedWhileAway.add(rentalId);
    try {
      await this.call({ op: "close", rentalId });
    } catch (err) {
      if (!(err instanceof SshGatewayError && err.code === "gateway_unavailable")) throw err;
      this.closedWhileAway.add(rentalId);
    }
  }

  /** From the gateway's hello; while it has not answered (adoption), from its key file, which is the same key. */
  async hostKeyPin(): Promise<HostKeyPin> {
    this.pin ??= await this.readPin();
    return this.pin;
  }

  /** The daemon has adopted its rentals: the gateway closes listeners of rentals it did not open again. */
  async reconcile(): Promise<void> {
    this.complete = true;
    if (this.ready) await this.retain().catch((err: unknown) => this.log.warn({ err }, "could not tell the SSH gateway which rentals remain"));
  }

  /** Stops talking to the gateway; its listeners and sessions stay (that is the point of running it apart). */
  disconnect(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    this.socket?.destroy();
  }

  private want(access: SshAccess, port: number): { port: number } {
    this.wanted.set(access.rentalId, { access, port });
    this.closedWhileAway.delete(access.rentalId);
    return { port };
  }

  private async readPin(): Promise<HostKeyPin> {
    const key = await loadOrCreateHostKey(this.opts.hostKeyPath, this.log);
    return { fingerprint: key.fingerprint, publicKey: key.publicKey };
  }

  private unavailable(why = this.lastFailure): SshGatewayError {
    return new SshGatewayError(
      "gateway_unavailable",
      `node-ssh-gateway does not answer on ${this.opts.socketPath}${why ? ` (${why})` : ""}: renters cannot log in to new rentals until it runs (systemctl start node-ssh-gateway), or run node-daemon with -ssh-gateway embedded`,
    );
  }

  private untilReady(ms: number): Promise<boolean> {
    if (this.ready) return Promise.resolve(true);
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve(this.ready);
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  private connect(): void {
    if (this.stopped) return;
    const socket = createConnection(this.opts.socketPath);
    this.socket = socket;
    socket.setEncoding("utf8");
    socket.on("data", lineReader((v) => this.onAnswer(v), (why) => socket.destroy(new Error(`the gateway sent ${why}`))));
    socket.once("connect", () => void this.greet(socket));
    socket.on("error", (err: NodeJS.ErrnoException) => this.failed(err.code === "ENOENT" ? "no socket there: is node-ssh-gateway running?" : err.code === "ECONNREFUSED" ? "nothing listens there: node-ssh-gateway stopped" : (err.code ?? err.message)));
    socket.once("close", () => {
      if (this.socket === socket) this.socket = undefined;
      const lost = this.ready;
      this.ready = false;
      for (const p of this.pending.values()) p.reject(this.unavailable("the connection closed"));
      this.pending.clear();
      if (lost && !this.stopped) this.failed("the connection closed");
      if (this.stopped) return;
      const delay = this.backoff.next();
      this.retry = setTimeout(() => this.connect(), delay);
      this.retry.unref();
    });
  }

  /** hello, then everything this daemon wants open again (a gateway that restarted has nothing). */
  private async greet(socket: Socket): Promise<void> {
    try {
      const hello = await this.call({ op: "hello", protocol: PROTOCOL_VERSION, listenHost: this.opts.listenHost, ports: this.opts.ports });
      if (hello.hostKey) this.pin = hello.hostKey;
      for (const [rentalId, w] of [...this.wanted]) {
        try {
          const port = (await this.call({ op: "open", access: w.access, preferredPort: w.port })).port ?? w.port;
          if (port !== w.port) this.log.warn({ rentalId, was: w.port, port }, "the SSH gateway gave a rental another port (its old one was taken)");
          w.port = port;
        } catch (err) {
          if (err instanceof SshGatewayError && err.code === "gateway_unavailable") throw err;
          this.log.error({ err, rentalId }, "the SSH gateway could not open a rental's listener again");
        }
      }
      for (const rentalId of [...this.closedWhileAway]) {
        await this.call({ op: "close", rentalId });
        this.closedWhileAway.delete(rentalId);
      }
      if (this.complete) await this.retain();
    } catch (err) {
      this.failed(err instanceof Error ? err.message : String(err));
      socket.destroy();
      return;
    }
    this.ready = true;
    this.backoff.reset();
    this.lastFailure = "";
    this.log.info({ socket: this.opts.socketPath, listeners: this.wanted.size }, "connected to node-ssh-gateway");
    this.setReachable(true, "");
    for (const w of [...this.waiters]) w();
  }

  private async retain(): Promise<void> {
    const res = await this.call({ op: "retain", rentalIds: [...this.wanted.keys()] });
    if (res.closed?.length) this.log.info({ closed: res.closed }, "the SSH gateway closed the access of rentals this daemon no longer has");
  }

  private failed(why: string): void {
    if (why !== this.lastFailure) this.log.warn({ socket: this.opts.socketPath, why }, "node-ssh-gateway is not reachable; trying again");
    else this.log.debug({ why }, "node-ssh-gateway still not reachable");
    this.lastFailure = why;
    this.setReachable(false, why);
  }

  private setReachable(reachable: boolean, why: string): void {
    if (this.wasReachable === reachable) return;
    this.wasReachable = reachable;
    this.deps.onReachable?.(reachable, reachable ? "" : this.unavailable(why).message);
  }

  private call(body: GatewayCall): Promise<Ok> {
    const socket = this.socket;
    if (!socket || socket.destroyed || !socket.writable) return Promise.reject(this.unavailable());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      socket.write(`${JSON.stringify({ id, ...body })}\n`);
    });
  }

  private onAnswer(value: unknown): void {
    const parsed = gatewayResponse.safeParse(value);
    if (!parsed.success) return void this.socket?.destroy(new Error("the gateway sent an answer this daemon cannot read"));
    const res = parsed.data;
    const p = this.pending.get(res.id);
    if (!p) return;
    this.pending.delete(res.id);
    if (res.ok) p.resolve(res);
    else p.reject(new SshGatewayError(isGatewayCode(res.code) ? res.code : "internal", res.message));
  }
}

const GATEWAY_CODES = new Set(["invalid_port_range", "ports_exhausted", "invalid_access", "host_key", "sftp_helper", "closed", "gateway_unavailable", "protocol", "internal"]);
function isGatewayCode(code: string): code is SshGatewayError["code"] {
  return GATEWAY_CODES.has(code);
}
