import { beforeEach, describe, expect, it } from "vitest";
import { NonceStore } from "./nonce-store.js";

const TTL_MS = 60_000;
let clock: number;
const now = (): number => clock;

beforeEach(() => {
  clock = 1_000_000;
});

describe("NonceStore", () => {
  it("issues distinct alphanumeric nonces of at least 128 bits with their expiry", () => {
    const store = new NonceStore({ ttlMs: TTL_MS, now });
    const a = store.issue();
    const b = store.issue();
    expect(a.nonce).toMatch(/^[0-9a-f]{32}$/); // 32 hex digits = 128 bits, within [a-zA-Z0-9]{8,}
    expect(a.nonce).not.toBe(b.nonce);
    expect(a.expiresAt.getTime()).toBe(clock + TTL_MS);
  });

  it("peek does not consume; consume says ok once, then replayed", () => {
    const store = new NonceStore({ ttlMs: TTL_MS, now });
    const { nonce } = store.issue();
    expect(store.peek(nonce)).toBe("ok");
    expect(store.peek(nonce)).toBe("ok");
    expect(store.consume(nonce)).toBe("ok");
    expect(store.consume(nonce)).toBe("replayed");
    expect(store.peek(nonce)).toBe("replayed");
  });

  it("tells never-issued nonces apart", () => {
    const store = new NonceStore({ ttlMs: TTL_MS, now });
    expect(store.peek("neverissued123")).toBe("unknown");
    expect(store.consume("neverissued123")).toBe("unknown");
  });

  it("expires unused nonces at the TTL and forgets them one TTL later", () => {
    const store = new NonceStore({ ttlMs: TTL_MS, now });
    const { nonce } = store.issue();
    clock += TTL_MS - 1;
    expect(store.peek(nonce)).toBe("ok");
    clock += 1;
    expect(store.peek(nonce)).toBe("expired");
    expect(store.consume(nonce)).toBe("expired");
    clock += TTL_MS;
    expect(store.peek(nonce)).toBe("unknown");
  });

  it("remembers a used nonce for at least the TTL after its use", () => {
    const store = new NonceStore({ ttlMs: TTL_MS, now });
    const { nonce } = store.issue();
    clock += TTL_MS - 1;
    expect(store.consume(nonce)).toBe("ok");
    clock += TTL_MS - 1;
    expect(store.peek(nonce)).toBe("replayed");
  });

  it("keeps at most maxOutstanding nonces, dropping the oldest", () => {
    const store = new NonceStore({ ttlMs: TTL_MS, maxOutstanding: 3, now });
    const issued = Array.from({ length: 5 }, () => store.issue().nonce);
    expect(store.size).toBe(3);
    expect(issued.map((n) => store.peek(n))).toEqual(["unknown", "unknown", "ok", "ok", "ok"]);
  });

  it("forgets old entries as time passes, so memory follows the issue rate", () => {
    const store = new NonceStore({ ttlMs: TTL_MS, now });
    for (let i = 0; i < 10; i++) store.issue();
    clock += 2 * TTL_MS;
    store.issue();
    expect(store.size).toBe(1);
  });
});
