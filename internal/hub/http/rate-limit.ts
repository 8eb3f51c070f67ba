/**
 * A token bucket per key (an IP, a wallet): `burst` requests at once, refilled at `perMinute`.
 * Old keys are dropped so a flood of addresses cannot grow memory without bound.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly opts: { perMinute: number; burst: number; maxKeys?: number },
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token; returns 0 when allowed, else the seconds until one is free. */
  take(key: string): number {
    const now = this.now();
    const rate = this.opts.perMinute / 60_000;
    const b = this.buckets.get(key) ?? { tokens: this.opts.burst, at: now };
    b.tokens = Math.min(this.opts.burst, b.tokens + (now - b.at) * rate);
    b.at = now;
    this.buckets.delete(key);
    this.buckets.set(key, b); // most recent last, for eviction
    while (this.buckets.size > (this.opts.maxKeys ?? 100_000)) this.buckets.delete(this.buckets.keys().next().value as string);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - b.tokens) / rate / 1000);
  }
}
