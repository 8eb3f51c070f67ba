import { AppError } from "../errors/app-error.js";

/** What the hub asked to be signed, and for how long: everything of a sign-in but the wallet. */
export interface SignInFields {
  domain: string;
  uri: string;
  chainId: number;
  /** Issued by the hub; single-use. */
  nonce: string;
  statement?: string;
  /** Lifetime of the message; default and maximum MAX_SIGN_IN_LIFETIME_MS. */
  expiresInMs?: number;
  /** The message's issue time, in ms since the epoch; default now. */
  issuedAtMs?: number;
}

export interface SignedSignIn {
  /** The EIP-4361 text. */
  message: string;
  /** Its EIP-191 personal_sign signature. */
  signature: string;
}

/** A wallet that signs in: an ethers wallet in this process, or the daemon's key in a short-lived child process. */
export interface SignInSigner {
  signIn(fields: SignInFields, signal?: AbortSignal): Promise<SignedSignIn>;
}

/** Matches the hub's default max age: a longer-lived message would only be refused. */
export const MAX_SIGN_IN_LIFETIME_MS = 5 * 60_000;

/** Why a sign-in message cannot be built from these fields: the signer's own refusals. */
const REFUSAL_CODES = ["expiry_too_long", "expiry_invalid", "message_invalid"] as const;

/** A refusal, or "signer_failed": the helper process that signs did not answer. */
export type SignInRequestErrorCode = (typeof REFUSAL_CODES)[number] | "signer_failed";

export function isSignInRefusalCode(code: string): code is (typeof REFUSAL_CODES)[number] {
  return (REFUSAL_CODES as readonly string[]).includes(code);
}

export class SignInRequestError extends AppError {
  override readonly name = "SignInRequestError";

  constructor(
    readonly code: SignInRequestErrorCode,
    message: string,
  ) {
    super(message);
  }
}
