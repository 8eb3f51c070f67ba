import type { Signer } from "ethers";
import { SiweMessage } from "siwe";
import { MAX_SIGN_IN_LIFETIME_MS, SignInRequestError, type SignedSignIn, type SignInFields, type SignInSigner } from "./sign-in-request.js";

/** What a sign-in needs of a wallet: an ethers Signer. */
export type MessageSigner = Pick<Signer, "getAddress" | "signMessage">;

export interface SignInRequest extends SignInFields {
  signer: MessageSigner;
}

/**
 * A wallet's side of sign-in: builds the EIP-4361 text with siwe (which
 * re-parses what it builds, so a bad domain or URI fails here, not at the hub)
 * and signs it with EIP-191 personal_sign.
 */
export async function createSignIn(req: SignInRequest): Promise<SignedSignIn> {
  const lifetimeMs = req.expiresInMs ?? MAX_SIGN_IN_LIFETIME_MS;
  if (!Number.isFinite(lifetimeMs) || lifetimeMs <= 0) {
    throw new SignInRequestError("expiry_invalid", `expiresInMs must be a positive number of milliseconds, got ${lifetimeMs}`);
  }
  if (lifetimeMs > MAX_SIGN_IN_LIFETIME_MS) {
    throw new SignInRequestError("expiry_too_long", `expiresInMs must be at most ${MAX_SIGN_IN_LIFETIME_MS}, got ${lifetimeMs}`);
  }
  const nowMs = req.issuedAtMs ?? Date.now();
  const message = signInMessage({ ...req, address: await req.signer.getAddress(), issuedAt: new Date(nowMs), expirationTime: new Date(nowMs + lifetimeMs) });
  return { message, signature: await req.signer.signMessage(message) };
}

/** An ethers wallet as a SignInSigner, signing in this process (the renter's CLI, tests). */
export function walletSigner(signer: MessageSigner): SignInSigner {
  return { signIn: (fields) => createSignIn({ ...fields, signer }) };
}

export interface SignInMessageFields {
  domain: string;
  /** Checksummed by siwe's grammar check: pass it EIP-55 cased. */
  address: string;
  statement?: string;
  uri: string;
  chainId: number;
  nonce: string;
  issuedAt: Date;
  expirationTime: Date;
}

/** The EIP-4361 text, built (and re-parsed) by siwe; throws SignInRequestError("message_invalid") naming what is wrong. */
export function signInMessage(f: SignInMessageFields): string {
  try {
    return new SiweMessage({
      domain: f.domain,
      address: f.address,
      ...(f.statement !== undefined && { statement: f.statement }),
      uri: f.uri,
      version: "1",
      chainId: f.chainId,
      nonce: f.nonce,
      issuedAt: f.issuedAt.toISOString(),
      expirationTime: f.expirationTime.toISOString(),
    }).prepareMessage();
  } catch (err) {
    const detail = err instanceof Error ? (err.message.split("\n")[0] ?? "") : String(err);
    throw new SignInRequestError("message_invalid", `cannot build the sign-in message: ${detail}`);
  }
}
