import { EventEmitter } from "node:events";
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "pino";
import { AppError } from "../../errors/app-error.js";
import type { LeaseState, LeaseStore } from "../store/lease-store.js";
import { PollLoop } from "../../util/poll-loop.js";

export interface LeaseOptions {
  name: string;
  /** A holder that stops renewing loses the lease after this long: how soon another hub takes over. */
  ttlMs: number;
  renewMs: number;
}

/** Why a hub will not start: another one holds what only one may hold. */
export class ReplicaError extends AppError {
  readonly code = "replica";
  override readonly shownToUser = true;
  override readonly name = "ReplicaError";
}

/**
 * A named lease in the hub's database, renewed while held and tried for while not: work that must run
 * on one hub at a time runs where `held` is true. A holder that dies stops renewing, and another hub
 * takes the lease once it expires. `held` goes false on our own clock as soon as a renewal is overdue,
 * before anyone else can have taken it.
 */
export class Lease extends EventEmitter<{ acquired: []; lost: [] }> {
  /** host:pid:instance, so that an operator can tell who holds it. */
  readonly holder = instanceName();
  private heldUntil = 0;
  private wasHeld = false;
  private readonly loop: PollLoop;

  constructor(
    private readonly opts: LeaseOptions,
    private readonly deps: { store: LeaseStore; logger: Logger },
  ) {
    super();
    this.loop = new PollLoop({ intervalMs: opts.renewMs, maxBackoffMs: opts.renewMs }, async () => (await this.tryOnce(), false), (err) => {
      deps.logger.warn({ err: (err as Error).message, lease: opts.name }, "could not renew a lease");
      this.update();
    });
  }

  get held(): boolean {
    return this.heldUntil > Date.now();
  }

  /** One attempt to take (or renew) it now; `force` takes it from a holder known to be dead. */
  async tryOnce(force = false): Promise<LeaseState> {
    const asked = Date.now();
    const state = await this.deps.store.take(this.opts.name, this.holder, this.opts.ttlMs, asked, force);
    // Counted from when we asked, not when the answer came: never longer than the database's view.
    this.heldUntil = state.holder === this.holder ? asked + this.opts.ttlMs : 0;
    this.update();
    return state;
  }

  start(): void {
    this.loop.start();
  }

  async close(): Promise<void> {
    await this.loop.close();
    if (this.heldUntil > 0) await this.deps.store.release(this.opts.name, this.holder).catch(() => undefined);
    this.heldUntil = 0;
  }

  private update(): void {
    const held = this.held;
    if (held === this.wasHeld) return;
    this.wasHeld = held;
    this.deps.logger.info({ lease: this.opts.name, holder: this.holder }, held ? "lease taken: this hub runs its work" : "lease lost: another hub runs its work");
    this.emit(held ? "acquired" : "lost");
  }
}

/** host:pid:instance: which process on which machine holds a lease or runs as a replica (holderProcess reads it back). */
export function instanceName(): string {
  return `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/** The host and process id in a holder name, to tell whether it is still alive. */
export function holderProcess(holder: string): { host: string; pid: number } | undefined {
  const m = /^(.*):(\d+):[0-9a-f]{8}$/.exec(holder);
  return m ? { host: m[1] ?? "", pid: Number(m[2]) } : undefined;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
