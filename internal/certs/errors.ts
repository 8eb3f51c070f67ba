import { AppError } from "../errors/app-error.js";
export type CertificateErrorCode =
  | "invalid_key"
  | "unsupported_key"
  | "invalid_csr"
  | "invalid_certificate"
  | "invalid_fingerprint"
  | "invalid_node_id"
  | "invalid_wallet"
  | "invalid_host"
  | "invalid_lifetime"
  | "incomplete_ca"
  | "invalid_ca"
  | "insecure_permissions"
  | "corrupt_cert_dir"
  | "invalid_credentials";

/**
 * Callers branch on `code`, never on the message. Messages name files and fields but never
 * include key bytes: they end up in logs and in replies to nodes.
 */
export class CertificateError extends AppError {
  override readonly shownToUser = true;
  override readonly name = "CertificateError";
  constructor(
    readonly code: CertificateErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
