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

export type SignInRequestErrorCode = "expiry_too_long" | "expiry_invalid" | "message_invalid" | "signer_failed";

export class SignInRequestError extends AppError {
  override readonly name = "SignInRequestError";

  constructor(
    readonly code: SignInRequestErrorCode,
    message: string,
  ) {
    super(message);
  }
}
