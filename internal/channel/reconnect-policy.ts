import { Backoff, type BackoffOptions } from "../util/backoff.js";

export interface ReconnectOptions {
  /** After a stream is lost or refused: short, so every daemon is back soon after a hub restart. */
  backoff: BackoffOptions;
  /** How long an opened stream waits for the hub's Welcome. */
  welcomeTimeoutMs: number;
  /**
   * A hub that took the stream but sent no Welcome in time is busy (thousands of nodes dialling at
   * once after its restart). Retrying it on the short schedule with the same timeout would give up
   * on handshakes it was about to finish and dial again, so it never catches up. Instead each miss
   * doubles the Welcome timeout and the retries spread wider, up to these.
   */
  busy: { maxWelcomeTimeoutMs: number; maxBackoffMs: number };
}

/** When to dial the hub again and how long to wait for its Welcome, from how the last tries ended. */
export class ReconnectPolicy {
  private readonly lost: Backoff;
  private readonly busy: Backoff;
  private misses = 0;

  constructor(
    private readonly opts: ReconnectOptions,
    random: () => number = Math.random,
  ) {
    this.lost = new Backoff(opts.backoff, random);
    this.busy = new Backoff({ initialMs: opts.backoff.maxMs, maxMs: opts.busy.maxBackoffMs, factor: opts.backoff.factor }, random);
  }

  welcomeTimeoutMs(): number {
    return Math.min(this.opts.busy.maxWelcomeTimeoutMs, this.opts.welcomeTimeoutMs * 2 ** this.misses);
  }

  /** The hub welcomed us: the next loss starts from the short schedule again. */
  welcomed(): void {
    this.lost.reset();
    this.busy.reset();
    this.misses = 0;
  }

  /** The wait before the next dial; `noWelcome` when the last stream timed out waiting for the Welcome. */
  nextDelayMs(noWelcome: boolean): number {
    if (!noWelcome) return this.lost.next();
    this.misses++;
    return this.busy.next();
  }
}
