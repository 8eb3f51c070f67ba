import { randomBytes } from "node:crypto";

export type NonceState = "ok" | "unknown" | "replayed" | "expired";

export interface NonceStoreOptions {
  /** How long an issued nonce may be used. */
  ttlMs: number;
  /** Most nonces remembered at once (outstanding, used or expired); the oldest are dropped beyond. */
  maxOutstanding?: number;
  now?: () => number;
}

export const DEFAULT_MAX_OUTSTANDING_NONCES = 100_000;

/** 16 bytes = 128 bits; hex keeps it within EIP-4361's [a-zA-Z0-9]{8,}. */
const NONCE_BYTES = 16;

interface Entry {
  expiresAtMs: number;
  used: boolean;
}

/**
 * Single-use sign-in nonces. Entries are kept for a TTL past their expiry so a
 * replayed or late nonce is reported as such rather than as never issued; after
 * that (or when evicted by the bound) they read "unknown", which is still a refusal.
 */
export class NonceStore {
  // Insertion order is issue order, so the oldest entry is always first.
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly max: number;
  private readonly now: () => number;

  constructor(opts: NonceStoreOptions) {
    if (!(opts.ttlMs > 0)) throw new RangeError(`NonceStore ttlMs must be > 0, got ${opts.ttlMs}`);
    const max = opts.maxOutstanding ?? DEFAULT_MAX_OUTSTANDING_NONCES;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`NonceStore maxOutstanding must be an integer >= 1, got ${max}`);
    this.ttlMs = opts.ttlMs;
    this.max = max;
    this.now = opts.now ?? Date.now;
  }

  issue(): { nonce: string; expiresAt: Date } {
    const now = this.now();
    this.prune(now);
    const nonce = randomBytes(NONCE_BYTES).toString("hex");
    const expiresAtMs = now + this.ttlMs;
    this.entries.set(nonce, { expiresAtMs, used: false });
    while (this.entries.size > this.max) this.dropOldest();
    return { nonce, expiresAt: new Date(expiresAtMs) };
  }

  /** State of a nonce without consuming it. */
  peek(nonce: string): NonceState {
    const now = this.now();
    this.prune(now);
    return stateOf(this.entries.get(nonce), now);
  }

  /** Marks the nonce used; "ok" is returned once per nonce, ever. */
  consume(nonce: string): NonceState {
    const now = this.now();
    this.prune(now);
    const entry = this.entries.get(nonce);
    const state = stateOf(entry, now);
    if (state === "ok" && entry) entry.used = true;
    return state;
  }

  /** Number of nonces remembered (for metrics and tests). */
  get size(): number {
    return this.entries.size;
  }

  private prune(now: number): void {
    for (const [nonce, entry] of this.entries) {
      if (entry.expiresAtMs + this.ttlMs > now) break;
      this.entries.delete(nonce);
    }
  }

  private dropOldest(): void {
    const oldest = this.entries.keys().next();
    if (!oldest.done) this.entries.delete(oldest.value);
  }
}

function stateOf(entry: Entry | undefined, now: number): NonceState {
  if (!entry) return "unknown";
  if (entry.used) return "replayed";
  return now < entry.expiresAtMs ? "ok" : "expired";
}
