import { Wallet } from "ethers";
import { SiweMessage } from "siwe";
import { beforeEach, describe, expect, it } from "vitest";
import { NonceStore } from "./nonce-store.js";
import { refusalStatus, SiweRefusal, type SiweRefusalCode } from "./refusal.js";
import { createSignIn, type SignInRequest } from "./siwe-signer.js";
import { SiweVerifier, type SiwePolicy } from "./siwe-verifier.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const NONCE_TTL_MS = 5 * 60_000;
const POLICY: SiwePolicy = { domain: "hub.example:8080", uriOrigin: "https://hub.example:8080", chainId: 8453 };
const URI = "https://hub.example:8080/v1/auth/sign-in";

let clock: number;
const now = (): number => clock;
let wallet: Wallet;
let nonces: NonceStore;
let verifier: SiweVerifier;

beforeEach(() => {
  clock = T0;
  wallet = new Wallet(Wallet.createRandom().privateKey);
  nonces = new NonceStore({ ttlMs: NONCE_TTL_MS, now });
  verifier = new SiweVerifier(POLICY, { nonces, now });
});

function signIn(overrides: Partial<SignInRequest> = {}): Promise<{ message: string; signature: string }> {
  return createSignIn({
    signer: wallet,
    domain: POLICY.domain,
    uri: URI,
    chainId: POLICY.chainId,
    nonce: nonces.issue().nonce,
    issuedAtMs: now(),
    ...overrides,
  });
}

async function expectRefusal(attempt: Promise<unknown>, code: SiweRefusalCode, check: string): Promise<SiweRefusal> {
  const err: unknown = await attempt.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SiweRefusal);
  const refusal = err as SiweRefusal;
  expect(refusal.code).toBe(code);
  expect(refusal.message).toContain(check);
  return refusal;
}

describe("SiweVerifier", () => {
  it("accepts a good sign-in and returns the checksummed address", async () => {
    const { message, signature } = await signIn({ expiresInMs: 60_000 });
    const result = await verifier.verify(message, signature);
    expect(result).toEqual({
      address: wallet.address,
      chainId: POLICY.chainId,
      issuedAt: new Date(T0),
      expirationTime: new Date(T0 + 60_000),
    });
    expect(result.address).not.toBe(result.address.toLowerCase());
  });

  it("refuses an oversized message before parsing it", async () => {
    const { message, signature } = await signIn({ statement: "a".repeat(5000) });
    const refusal = await expectRefusal(verifier.verify(message, signature), "oversized", "size check failed");
    expect(refusal.message).toMatch(/\d+ bytes, limit 4096/);
  });

  it("refuses text that is not an EIP-4361 message", async () => {
    await expectRefusal(verifier.verify("hello hub", "0x00"), "malformed", "grammar check failed");
    const { message, signature } = await signIn();
    const lowercased = message.replace(wallet.address, wallet.address.toLowerCase());
    const refusal = await expectRefusal(verifier.verify(lowercased, signature), "malformed", "grammar check failed");
    expect(refusal.message).toContain("EIP-55");
  });

  it("refuses a message for another domain", async () => {
    const { message, signature } = await signIn({ domain: "evil.example" });
    const refusal = await expectRefusal(verifier.verify(message, signature), "domain_mismatch", "domain check failed");
    expect(refusal.message).toContain('expected "hub.example:8080", got "evil.example"');
  });

  it("refuses a URI with another origin, including another scheme", async () => {
    const other = await signIn({ uri: "https://evil.example/v1/auth/sign-in" });
    const refusal = await expectRefusal(verifier.verify(other.message, other.signature), "uri_mismatch", "URI check failed");
    expect(refusal.message).toContain('expected origin "https://hub.example:8080", got "https://evil.example"');
    const plain = await signIn({ uri: "http://hub.example:8080/v1/auth/sign-in" });
    await expectRefusal(verifier.verify(plain.message, plain.signature), "uri_mismatch", "URI check failed");
  });

  it("refuses another chain id", async () => {
    const { message, signature } = await signIn({ chainId: 1 });
    const refusal = await expectRefusal(verifier.verify(message, signature), "chain_id_mismatch", "chain id check failed");
    expect(refusal.message).toContain("expected 8453, got 1");
  });

  it("refuses a message issued in the future beyond the clock skew, and accepts one within it", async () => {
    const ahead = await signIn({ issuedAtMs: T0 + 60_000 });
    await expectRefusal(verifier.verify(ahead.message, ahead.signature), "issued_in_future", "issued-at check failed");
    const slightlyAhead = await signIn({ issuedAtMs: T0 + 20_000 });
    await expect(verifier.verify(slightlyAhead.message, slightlyAhead.signature)).resolves.toMatchObject({ address: wallet.address });
  });

  it("refuses a message issued longer ago than the policy's max age, even if not expired", async () => {
    verifier = new SiweVerifier({ ...POLICY, maxAgeMs: 60_000 }, { nonces, now });
    const { message, signature } = await signIn({ issuedAtMs: T0 - 120_000 });
    await expectRefusal(verifier.verify(message, signature), "issued_too_long_ago", "issued-at check failed");
  });

  it("refuses an expired message", async () => {
    const { message, signature } = await signIn({ expiresInMs: 60_000 });
    clock = T0 + 60_000;
    await expectRefusal(verifier.verify(message, signature), "expired", "expiry check failed");
  });

  it("refuses a message whose Not Before is still ahead", async () => {
    const message = new SiweMessage({
      domain: POLICY.domain,
      address: wallet.address,
      uri: URI,
      version: "1",
      chainId: POLICY.chainId,
      nonce: nonces.issue().nonce,
      issuedAt: new Date(T0).toISOString(),
      notBefore: new Date(T0 + 120_000).toISOString(),
    }).prepareMessage();
    const signature = await wallet.signMessage(message);
    await expectRefusal(verifier.verify(message, signature), "not_yet_valid", "not-before check failed");
  });

  it("refuses a nonce this hub never issued", async () => {
    const { message, signature } = await signIn({ nonce: "a1b2c3d4e5f60718293a4b5c6d7e8f90" });
    await expectRefusal(verifier.verify(message, signature), "nonce_unknown", "nonce check failed");
  });

  it("refuses a nonce that expired before use", async () => {
    const { nonce } = nonces.issue();
    clock = T0 + NONCE_TTL_MS + 1;
    const { message, signature } = await signIn({ nonce });
    await expectRefusal(verifier.verify(message, signature), "nonce_expired", "nonce check failed");
  });

  it("refuses the second use of a nonce", async () => {
    const { message, signature } = await signIn();
    await verifier.verify(message, signature);
    await expectRefusal(verifier.verify(message, signature), "nonce_replayed", "nonce check failed");
  });

  it("lets only one of two concurrent uses of a nonce through", async () => {
    const { message, signature } = await signIn();
    const results = await Promise.allSettled([verifier.verify(message, signature), verifier.verify(message, signature)]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const rejected = results.find((r) => r.status === "rejected");
    expect((rejected as PromiseRejectedResult).reason).toMatchObject({ code: "nonce_replayed" });
  });

  it("refuses a signature by another key without echoing the signature", async () => {
    const { message } = await signIn();
    const intruder = new Wallet(Wallet.createRandom().privateKey);
    const signature = await intruder.signMessage(message);
    const refusal = await expectRefusal(verifier.verify(message, signature), "bad_signature", "signature check failed");
    expect(refusal.message).toContain(`message names ${wallet.address}, signature is by ${intruder.address}`);
    expect(refusal.message).not.toContain(signature.slice(2, 20));
  });

  it("refuses a signature that is not a signature without echoing it", async () => {
    const { message } = await signIn();
    const garbage = `0x${"ab".repeat(10)}`;
    const refusal = await expectRefusal(verifier.verify(message, garbage), "bad_signature", "signature check failed");
    expect(refusal.message).not.toContain("abab");
  });

  it("does not burn the nonce on a refused attempt: a correct retry succeeds", async () => {
    const { message, signature } = await signIn();
    const forged = await new Wallet(Wallet.createRandom().privateKey).signMessage(message);
    await expectRefusal(verifier.verify(message, forged), "bad_signature", "signature check failed");
    await expect(verifier.verify(message, signature)).resolves.toMatchObject({ address: wallet.address });
  });

  it("rejects a policy whose uriOrigin is not an origin", () => {
    expect(() => new SiweVerifier({ ...POLICY, uriOrigin: "hub.example" }, { nonces })).toThrow(/uriOrigin/);
  });
});

describe("refusalStatus", () => {
  it("answers 400 for unusable requests and 401 for failed authentication", () => {
    expect(refusalStatus("malformed")).toBe(400);
    expect(refusalStatus("oversized")).toBe(400);
    for (const code of ["domain_mismatch", "nonce_replayed", "bad_signature", "expired"] as const) {
      expect(refusalStatus(code)).toBe(401);
    }
  });
});
