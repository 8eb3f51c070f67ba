import { Backoff } from "./backoff.js";

export interface PollLoopOptions {
  intervalMs: number;
  /** After a failed tick: exponential backoff from intervalMs up to this. */
  maxBackoffMs: number;
}

/**
 * Runs `tick` every intervalMs, at once when woken, and after a failure again only after a growing
 * delay, until closed. A tick returns true when it has more to do right away (a long catch-up).
 */
export class PollLoop {
  private readonly abort = new AbortController();
  private readonly backoff: Backoff;
  private timer: NodeJS.Timeout | undefined;
  private wakeUp: (() => void) | undefined;
  private done: Promise<void> | undefined;

  constructor(
    private readonly opts: PollLoopOptions,
    private readonly tick: (signal: AbortSignal) => Promise<boolean>,
    private readonly onError: (err: unknown, retryInMs: number) => void,
  ) {
    this.backoff = new Backoff({ initialMs: opts.intervalMs, maxMs: opts.maxBackoffMs, factor: 2 });
  }

  start(): void {
    this.done ??= this.run();
  }

  /** Runs the next tick now rather than at the end of the interval. */
  wake(): void {
    this.wakeUp?.();
  }

  async close(): Promise<void> {
    this.abort.abort(new Error("closed"));
    this.wake();
    await this.done;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      let waitMs = this.opts.intervalMs;
      try {
        if (await this.tick(signal)) waitMs = 0;
        this.backoff.reset();
      } catch (err) {
        if (signal.aborted) return;
        waitMs = this.backoff.next();
        this.onError(err, waitMs);
      }
      if (waitMs > 0) await this.pause(waitMs);
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wakeUp = () => {
        clearTimeout(this.timer);
        this.wakeUp = undefined;
        resolve();
      };
      this.timer = setTimeout(() => this.wakeUp?.(), ms);
    });
  }
}
