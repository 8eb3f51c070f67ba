import { getAddress, verifyMessage } from "ethers";
import { SiweMessage } from "siwe";
import type { NonceState, NonceStore } from "./nonce-store.js";
import { quote, SiweRefusal } from "./refusal.js";
import { checkTimeWindow, parseSignInTimes } from "./siwe-time-window.js";

export interface SiwePolicy {
  /** Expected authority, e.g. "hub.example:8080"; compared exactly. */
  domain: string;
  /** Expected origin of the message's URI, e.g. "https://hub.example:8080". */
  uriOrigin: string;
  chainId: number;
  /** Issued At may be at most this old. */
  maxAgeMs?: number;
  /** Issued At / Not Before up to this far in the future are accepted. */
  clockSkewMs?: number;
  maxMessageBytes?: number;
}

export const DEFAULT_SIWE_MAX_AGE_MS = 5 * 60_000;
export const DEFAULT_SIWE_CLOCK_SKEW_MS = 30_000;
export const DEFAULT_SIWE_MAX_MESSAGE_BYTES = 4096;

export interface VerifiedSignIn {
  /** EIP-55 checksummed. */
  address: string;
  chainId: number;
  issuedAt: Date;
  expirationTime?: Date;
}

export interface SiweVerifierDeps {
  nonces: NonceStore;
  now?: () => number;
}

/**
 * The hub's EIP-4361 check. siwe is used only as the grammar: its verify()
 * skips chain id, URI and age, re-checks expiry on its own clock, re-serialises
 * the fields before recovering and prints signature parse errors to the
 * console, so the signature is recovered here, over the exact bytes received.
 */
export class SiweVerifier {
  private readonly policy: Required<SiwePolicy>;
  private readonly nonces: NonceStore;
  private readonly now: () => number;

  constructor(policy: SiwePolicy, deps: SiweVerifierDeps) {
    if (!policy.domain) throw new RangeError("SiwePolicy.domain must not be empty");
    if (!Number.isSafeInteger(policy.chainId) || policy.chainId < 1) {
      throw new RangeError(`SiwePolicy.chainId must be a positive integer, got ${policy.chainId}`);
    }
    this.policy = {
      domain: policy.domain,
      uriOrigin: normaliseOrigin(policy.uriOrigin),
      chainId: policy.chainId,
      maxAgeMs: nonNegative("maxAgeMs", policy.maxAgeMs ?? DEFAULT_SIWE_MAX_AGE_MS),
      clockSkewMs: nonNegative("clockSkewMs", policy.clockSkewMs ?? DEFAULT_SIWE_CLOCK_SKEW_MS),
      maxMessageBytes: nonNegative("maxMessageBytes", policy.maxMessageBytes ?? DEFAULT_SIWE_MAX_MESSAGE_BYTES),
    };
    this.nonces = deps.nonces;
    this.now = deps.now ?? Date.now;
  }

  /** Throws SiweRefusal. Only a fully verified sign-in consumes its nonce. */
  async verify(message: string, signature: string): Promise<VerifiedSignIn> {
    const nowMs = this.now();
    const parsed = this.parse(message);
    this.checkBinding(parsed);
    const times = parseSignInTimes(parsed);
    checkTimeWindow(times, nowMs, this.policy);
    refuseUnlessOk(this.nonces.peek(parsed.nonce));
    const address = getAddress(parsed.address);
    checkSignature(message, signature, address);
    // Consume last, and re-check: a concurrent attempt may have used it meanwhile.
    refuseUnlessOk(this.nonces.consume(parsed.nonce));
    return {
      address,
      chainId: parsed.chainId,
      issuedAt: times.issuedAt,
      ...(times.expirationTime && { expirationTime: times.expirationTime }),
    };
  }

  private parse(message: string): SiweMessage {
    if (typeof message !== "string") throw new SiweRefusal("malformed", "grammar check failed: message is not a string");
    const bytes = Buffer.byteLength(message, "utf8");
    if (bytes > this.policy.maxMessageBytes) {
      throw new SiweRefusal("oversized", `size check failed: message is ${bytes} bytes, limit ${this.policy.maxMessageBytes}`);
    }
    try {
      return new SiweMessage(message);
    } catch (err) {
      throw new SiweRefusal("malformed", `grammar check failed: not an EIP-4361 message (${parserDetail(err)})`);
    }
  }

  private checkBinding(parsed: SiweMessage): void {
    const { domain, uriOrigin, chainId } = this.policy;
    if (parsed.domain !== domain) {
      throw new SiweRefusal("domain_mismatch", `domain check failed: expected ${quote(domain)}, got ${quote(parsed.domain)}`);
    }
    const origin = originOf(parsed.uri);
    if (origin !== uriOrigin) {
      const got = origin === undefined || origin === "null" ? `URI ${quote(parsed.uri)}` : quote(origin);
      throw new SiweRefusal("uri_mismatch", `URI check failed: expected origin ${quote(uriOrigin)}, got ${got}`);
    }
    if (parsed.chainId !== chainId) {
      throw new SiweRefusal("chain_id_mismatch", `chain id check failed: expected ${chainId}, got ${parsed.chainId}`);
    }
  }
}

function checkSignature(message: string, signature: string, address: string): void {
  let recovered: string;
  try {
    recovered = verifyMessage(message, signature);
  } catch {
    // ethers' error quotes the signature; ours does not.
    throw new SiweRefusal("bad_signature", "signature check failed: not a valid 65-byte ECDSA signature");
  }
  if (recovered !== address) {
    throw new SiweRefusal("bad_signature", `signature check failed: message names ${address}, signature is by ${recovered}`);
  }
}

function refuseUnlessOk(state: NonceState): void {
  switch (state) {
    case "ok":
      return;
    case "unknown":
      throw new SiweRefusal("nonce_unknown", "nonce check failed: this hub did not issue the nonce (or has forgotten it)");
    case "replayed":
      throw new SiweRefusal("nonce_replayed", "nonce check failed: the nonce was already used; request a new one");
    case "expired":
      throw new SiweRefusal("nonce_expired", "nonce check failed: the nonce expired before use; request a new one");
  }
}

function originOf(uri: string): string | undefined {
  try {
    return new URL(uri).origin;
  } catch {
    return undefined;
  }
}

function normaliseOrigin(uriOrigin: string): string {
  const origin = originOf(uriOrigin);
  if (origin === undefined || origin === "null") {
    throw new RangeError(`SiwePolicy.uriOrigin must be an http(s) origin, got ${quote(uriOrigin)}`);
  }
  return origin;
}

function nonNegative(name: string, value: number): number {
  if (!(value >= 0)) throw new RangeError(`SiwePolicy.${name} must be >= 0, got ${value}`);
  return value;
}

/** The parser's first useful line; its trailing parser-state JSON helps nobody. */
function parserDetail(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = text.split("\n").find((l) => l.trim() !== "" && !l.startsWith("Invalid message: {"));
  return line ? quote(line, 160) : "does not follow the grammar";
}
