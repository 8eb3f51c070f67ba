import { inspect } from "node:util";
import { beforeEach, describe, expect, it } from "vitest";
import { SessionTokens, TokenRefusal } from "./session-tokens.js";

const TTL_MS = 15 * 60_000;
const ADDRESS = "0x9eefFe94a010D2983384992DE189757a8C754cF9";
let clock: number;
const now = (): number => clock;

beforeEach(() => {
  clock = Date.parse("2030-01-01T00:00:00.000Z");
});

function refusalOf(fn: () => unknown): TokenRefusal {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TokenRefusal);
    return err as TokenRefusal;
  }
  throw new Error("expected a TokenRefusal");
}

describe("SessionTokens", () => {
  it("issues a 32-byte base64url token that verifies to its address", () => {
    const tokens = new SessionTokens({ ttlMs: TTL_MS, now });
    const { token, expiresAt } = tokens.issue(ADDRESS);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(expiresAt.getTime()).toBe(clock + TTL_MS);
    expect(tokens.verify(token)).toEqual({ address: ADDRESS, expiresAt });
  });

  it("refuses a missing token", () => {
    const tokens = new SessionTokens({ ttlMs: TTL_MS, now });
    expect(refusalOf(() => tokens.verify(undefined)).code).toBe("token_missing");
    expect(refusalOf(() => tokens.verify("")).code).toBe("token_missing");
  });

  it("refuses a token it never issued without echoing it", () => {
    const tokens = new SessionTokens({ ttlMs: TTL_MS, now });
    const refusal = refusalOf(() => tokens.verify("not-a-token-we-issued"));
    expect(refusal.code).toBe("token_unknown");
    expect(refusal.message).not.toContain("not-a-token-we-issued");
  });

  it("refuses an expired token, then forgets it", () => {
    const tokens = new SessionTokens({ ttlMs: TTL_MS, now });
    const { token } = tokens.issue(ADDRESS);
    clock += TTL_MS;
    const refusal = refusalOf(() => tokens.verify(token));
    expect(refusal.code).toBe("token_expired");
    expect(refusal.message).not.toContain(token);
    clock += TTL_MS;
    expect(refusalOf(() => tokens.verify(token)).code).toBe("token_unknown");
    expect(tokens.size).toBe(0);
  });

  it("refuses a revoked token", () => {
    const tokens = new SessionTokens({ ttlMs: TTL_MS, now });
    const { token } = tokens.issue(ADDRESS);
    tokens.revoke(token);
    expect(refusalOf(() => tokens.verify(token)).code).toBe("token_unknown");
  });

  it("does not keep the token itself, only its hash", () => {
    const tokens = new SessionTokens({ ttlMs: TTL_MS, now });
    const { token } = tokens.issue(ADDRESS);
    const dump = inspect(tokens, { depth: 10, showHidden: true });
    expect(dump).toContain(ADDRESS);
    expect(dump).not.toContain(token);
  });

  it("keeps at most maxTokens, dropping the oldest", () => {
    const tokens = new SessionTokens({ ttlMs: TTL_MS, now, maxTokens: 2 });
    const [first, second, third] = [tokens.issue(ADDRESS), tokens.issue(ADDRESS), tokens.issue(ADDRESS)];
    expect(tokens.size).toBe(2);
    expect(refusalOf(() => tokens.verify(first.token)).code).toBe("token_unknown");
    expect(tokens.verify(second.token).address).toBe(ADDRESS);
    expect(tokens.verify(third.token).address).toBe(ADDRESS);
  });
});
