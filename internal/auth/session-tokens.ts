import { createHash, randomBytes } from "node:crypto";
import { AppError } from "../errors/app-error.js";

export type TokenRefusalCode = "token_missing" | "token_unknown" | "token_expired";

/** A refused bearer token; the message never contains the token. */
export class TokenRefusal extends AppError {
  override readonly name = "TokenRefusal";

  constructor(
    readonly code: TokenRefusalCode,
    message: string,
  ) {
    super(message);
  }
}

export interface SessionTokensOptions {
  ttlMs: number;
  now?: () => number;
  /** Most tokens remembered at once; the oldest are dropped beyond. */
  maxTokens?: number;
}

export const DEFAULT_MAX_SESSION_TOKENS = 100_000;

const TOKEN_BYTES = 32;

interface Session {
  address: string;
  expiresAtMs: number;
}

/**
 * Short-lived bearer tokens issued after a sign-in. Only a SHA-256 of each token
 * is kept, so a heap dump or debug print of this map yields nothing usable.
 * Expired tokens are remembered for one more TTL to answer "expired" rather than "unknown".
 */
export class SessionTokens {
  // Keyed by hex SHA-256; insertion order is issue order.
  private readonly sessions = new Map<string, Session>();
  private readonly ttlMs: number;
  private readonly max: number;
  private readonly now: () => number;

  constructor(opts: SessionTokensOptions) {
    if (!(opts.ttlMs > 0)) throw new RangeError(`SessionTokens ttlMs must be > 0, got ${opts.ttlMs}`);
    const max = opts.maxTokens ?? DEFAULT_MAX_SESSION_TOKENS;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`SessionTokens maxTokens must be an integer >= 1, got ${max}`);
    this.ttlMs = opts.ttlMs;
    this.max = max;
    this.now = opts.now ?? Date.now;
  }

  issue(address: string): { token: string; expiresAt: Date } {
    const now = this.now();
    this.prune(now);
    const token = randomBytes(TOKEN_BYTES).toString("base64url");
    const expiresAtMs = now + this.ttlMs;
    this.sessions.set(digest(token), { address, expiresAtMs });
    while (this.sessions.size > this.max) {
      const oldest = this.sessions.keys().next();
      if (oldest.done) break;
      this.sessions.delete(oldest.value);
    }
    return { token, expiresAt: new Date(expiresAtMs) };
  }

  /** Throws TokenRefusal. */
  verify(token: string | undefined): { address: string; expiresAt: Date } {
    if (!token) throw new TokenRefusal("token_missing", "token check failed: no bearer token was presented");
    const now = this.now();
    this.prune(now);
    const session = this.sessions.get(digest(token));
    if (!session) throw new TokenRefusal("token_unknown", "token check failed: the token was not issued here, was revoked, or is long expired");
    if (now >= session.expiresAtMs) {
      throw new TokenRefusal(
        "token_expired",
        `token check failed: the token expired at ${new Date(session.expiresAtMs).toISOString()}; sign in again`,
      );
    }
    return { address: session.address, expiresAt: new Date(session.expiresAtMs) };
  }

  revoke(token: string): void {
    this.sessions.delete(digest(token));
  }

  /** Ends every session of the address (a banned wallet); returns how many there were. */
  revokeAddress(address: string): number {
    let n = 0;
    for (const [key, session] of this.sessions) {
      if (session.address.toLowerCase() !== address.toLowerCase()) continue;
      this.sessions.delete(key);
      n++;
    }
    return n;
  }

  /** Number of tokens remembered (for metrics and tests). */
  get size(): number {
    return this.sessions.size;
  }

  private prune(now: number): void {
    for (const [key, session] of this.sessions) {
      if (session.expiresAtMs + this.ttlMs > now) break;
      this.sessions.delete(key);
    }
  }
}

function digest(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}
