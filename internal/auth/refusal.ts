import { AppError } from "../errors/app-error.js";
/** Why a sign-in was refused; stable, so callers branch on it instead of on messages. */
export type SiweRefusalCode =
  | "oversized"
  | "malformed"
  | "domain_mismatch"
  | "uri_mismatch"
  | "chain_id_mismatch"
  | "expired"
  | "not_yet_valid"
  | "issued_too_long_ago"
  | "issued_in_future"
  | "nonce_unknown"
  | "nonce_replayed"
  | "nonce_expired"
  | "bad_signature";

/** A refused sign-in. The message names the failed check and never carries the signature. */
export class SiweRefusal extends AppError {
  override readonly name = "SiweRefusal";

  constructor(
    readonly code: SiweRefusalCode,
    message: string,
  ) {
    super(message);
  }
}

/** HTTP status for a refusal: the request itself was unusable (400) or the caller is not authenticated (401). */
export function refusalStatus(code: SiweRefusalCode): number {
  return code === "malformed" || code === "oversized" ? 400 : 401;
}

/**
 * Quotes a value taken from the request for an error message: JSON quoting keeps
 * newlines and control characters out of logs, and the cap keeps messages short.
 */
export function quote(value: string, maxChars = 100): string {
  return JSON.stringify(value.length > maxChars ? `${value.slice(0, maxChars)}…` : value);
}
