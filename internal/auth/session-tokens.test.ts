import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { SessionTokens, TokenRefusal } from "./session-tokens.js";

const TTL_MS = 15 * 60_000;
const ADDRESS = "0x9eefFe94a010D2983384992DE189757a8C754cF9";
const KEY = randomBytes(32);

function clocked(start = Date.parse("2030-01-01T00:00:00.000Z")) {
  const clock = { now: start };
  return { clock, tokens: (key = KEY) => new SessionTokens({ ttlMs: TTL_MS, key, now: () => clock.now }) };
}

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
  it("issues a signed token that verifies to its address, on this hub and on any hub with the same key", () => {
    const { clock, tokens } = clocked();
    const { token, expiresAt } = tokens().issue(ADDRESS);
    expect(expiresAt.getTime()).toBe(clock.now + TTL_MS);
    // Another instance (a replica, or this hub after a restart) with the same key.
    expect(tokens().verify(token)).toMatchObject({ address: ADDRESS, expiresAt });
  });

  it("refuses a missing token, a token signed with another key, and an altered one, without echoing them", () => {
    const { tokens } = clocked();
    expect(refusalOf(() => tokens().verify(undefined)).code).toBe("token_missing");
    const foreign = tokens(randomBytes(32)).issue(ADDRESS).token;
    const refusal = refusalOf(() => tokens().verify(foreign));
    expect(refusal.code).toBe("token_unknown");
    expect(refusal.message).not.toContain(foreign);
    const { token } = tokens().issue(ADDRESS);
    const [prefix, body, mac] = token.split(".");
    const claims = JSON.parse(Buffer.from(body!, "base64url").toString()) as Record<string, unknown>;
    const forged = `${prefix}.${Buffer.from(JSON.stringify({ ...claims, a: "0x0000000000000000000000000000000000000001" })).toString("base64url")}.${mac}`;
    expect(refusalOf(() => tokens().verify(forged)).code).toBe("token_unknown");
    expect(refusalOf(() => tokens().verify("not-a-token")).code).toBe("token_unknown");
  });

  it("refuses an expired token as expired", () => {
    const { clock, tokens } = clocked();
    const t = tokens();
    const { token } = t.issue(ADDRESS);
    clock.now += TTL_MS;
    const refusal = refusalOf(() => t.verify(token));
    expect(refusal.code).toBe("token_expired");
    expect(refusal.message).toContain("sign in again");
  });

  it("refuses a signed-out token here at once and on another hub once told, and forgets the sign-out when the token would have expired", () => {
    const { clock, tokens } = clocked();
    const [here, there] = [tokens(), tokens()];
    const { token } = here.issue(ADDRESS);
    const revocation = here.revoke(token);
    expect(refusalOf(() => here.verify(token)).code).toBe("token_unknown");
    expect(there.verify(token).address).toBe(ADDRESS);
    there.revokeId(revocation!);
    expect(refusalOf(() => there.verify(token)).code).toBe("token_unknown");
    clock.now += TTL_MS;
    there.revokeId({ id: "later", expiresAtMs: clock.now + 1 }); // prunes on the way
    expect(refusalOf(() => there.verify(token)).code).toBe("token_expired");
  });

  it("ends a banned wallet's sessions issued before the ban, once, and lets it sign in again later", () => {
    const { clock, tokens } = clocked();
    const t = tokens();
    const before = t.issue(ADDRESS.toLowerCase()).token;
    expect(t.revokeAddress(ADDRESS)).toBe(1);
    expect(t.revokeAddress(ADDRESS)).toBe(0);
    expect(refusalOf(() => t.verify(before)).code).toBe("token_unknown");
    clock.now += 1_000;
    expect(t.verify(t.issue(ADDRESS).token).address).toBe(ADDRESS);
  });
});
