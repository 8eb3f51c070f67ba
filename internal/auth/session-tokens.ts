import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
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
  /** The HMAC key (32 bytes): hubs with the same key accept each other's tokens. */
  key: Buffer;
  now?: () => number;
}

/** A signed-out session, until its token would have expired anyway. */
export interface Revocation {
  id: string;
  expiresAtMs: number;
}

interface Claims {
  /** The wallet. */
  a: string;
  /** Token id: what a sign-out revokes. */
  i: string;
  /** Issued at, ms. */
  t: number;
  /** Expires at, ms. */
  e: number;
}

const PREFIX = "s1.";

/**
 * Bearer tokens issued after a sign-in, signed (HMAC-SHA256) rather than remembered: any hub with
 * the key (replicas share the CA it is derived from) accepts them, and they survive a restart. What
 * is remembered is what ends a session early: sign-outs (by token id, kept in the store for every
 * hub) and banned wallets (every token issued before the ban).
 */
export class SessionTokens {
  private readonly ttlMs: number;
  private readonly key: Buffer;
  private readonly now: () => number;
  private readonly revoked = new Map<string, number>();
  private readonly revokedBefore = new Map<string, number>();

  constructor(opts: SessionTokensOptions) {
    if (!(opts.ttlMs > 0)) throw new RangeError(`SessionTokens ttlMs must be > 0, got ${opts.ttlMs}`);
    if (opts.key.length < 32) throw new RangeError("SessionTokens key must be at least 32 bytes");
    this.ttlMs = opts.ttlMs;
    this.key = opts.key;
    this.now = opts.now ?? Date.now;
  }

  issue(address: string): { token: string; expiresAt: Date } {
    const now = this.now();
    const claims: Claims = { a: address, i: randomBytes(16).toString("base64url"), t: now, e: now + this.ttlMs };
    const body = Buffer.from(JSON.stringify(claims)).toString("base64url");
    return { token: `${PREFIX}${body}.${this.mac(body)}`, expiresAt: new Date(claims.e) };
  }

  /** Throws TokenRefusal. */
  verify(token: string | undefined): { address: string; expiresAt: Date; id: string } {
    if (!token) throw new TokenRefusal("token_missing", "token check failed: no bearer token was presented");
    const claims = this.claims(token);
    if (!claims || this.revoked.has(claims.i) || claims.t < (this.revokedBefore.get(claims.a.toLowerCase()) ?? -Infinity)) {
      throw new TokenRefusal("token_unknown", "token check failed: the token was not issued here, was revoked, or is long expired");
    }
    if (this.now() >= claims.e) throw new TokenRefusal("token_expired", `token check failed: the token expired at ${new Date(claims.e).toISOString()}; sign in again`);
    return { address: claims.a, expiresAt: new Date(claims.e), id: claims.i };
  }

  /** Ends the session here; returns what other hubs must be told (undefined for a token that is no session). */
  revoke(token: string): Revocation | undefined {
    const claims = this.claims(token);
    if (!claims) return undefined;
    this.revokeId({ id: claims.i, expiresAtMs: claims.e });
    return { id: claims.i, expiresAtMs: claims.e };
  }

  /** A sign-out made on this hub or another. */
  revokeId(r: Revocation): void {
    this.prune();
    if (r.expiresAtMs > this.now()) this.revoked.set(r.id, r.expiresAtMs);
  }

  /**
   * Ends every session of the address issued until now (a banned wallet); 1 when it had not been done
   * yet, else 0. Kept after an unban: sessions from before the ban stay ended, new sign-ins work.
   */
  revokeAddress(address: string): number {
    const key = address.toLowerCase();
    if (this.revokedBefore.has(key)) return 0;
    this.revokedBefore.set(key, this.now() + 1);
    return 1;
  }

  private claims(token: string): Claims | undefined {
    if (!token.startsWith(PREFIX)) return undefined;
    const [body, mac] = token.slice(PREFIX.length).split(".");
    if (!body || !mac) return undefined;
    const want = Buffer.from(this.mac(body));
    const got = Buffer.from(mac);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return undefined;
    try {
      const c = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as Partial<Claims>;
      return typeof c.a === "string" && typeof c.i === "string" && typeof c.t === "number" && typeof c.e === "number" ? (c as Claims) : undefined;
    } catch {
      return undefined;
    }
  }

  private mac(body: string): string {
    return createHmac("sha256", this.key).update(body).digest("base64url");
  }

  private prune(): void {
    const now = this.now();
    for (const [id, exp] of this.revoked) if (exp <= now) this.revoked.delete(id);
  }
}
