export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
}

/**
 * Exponential backoff with "equal jitter": each delay is half fixed, half random,
 * so a fleet of daemons that lost the same hub do not reconnect in lockstep, yet
 * none waits longer than maxMs.
 */
export class Backoff {
  private attempt = 0;

  constructor(private readonly opts: BackoffOptions, private readonly random: () => number = Math.random) {}

  next(): number {
    const ceiling = Math.min(this.opts.maxMs, this.opts.initialMs * this.opts.factor ** this.attempt);
    this.attempt++;
    return Math.round(ceiling / 2 + (ceiling / 2) * this.random());
  }

  reset(): void {
    this.attempt = 0;
  }
}
