import { createHash } from "node:crypto";
import { CertificateError } from "./errors.js";
import { parseCertificate } from "./parse.js";

const PREFIX = "sha256:";

/** "sha256:" + lowercase hex SHA-256 of the certificate's DER: what operators pin and compare. */
export function certificateFingerprint(certPem: string): string {
  return PREFIX + createHash("sha256").update(parseCertificate(certPem).raw).digest("hex");
}

/**
 * Operators paste fingerprints from openssl ("SHA256 Fingerprint=AB:CD:.."), browsers and our own
 * output; all of them mean the same 32 bytes, so they compare equal after this.
 */
export function normalizeFingerprint(text: string): string {
  const rest = text.trim().replace(/^sha-?256(?: fingerprint)?\s*[:=]\s*/i, "");
  const plain = /^[0-9a-f]{64}$/i.test(rest);
  const colons = /^[0-9a-f]{2}(:[0-9a-f]{2}){31}$/i.test(rest);
  if (!plain && !colons) {
    throw new CertificateError(
      "invalid_fingerprint",
      `not a SHA-256 fingerprint (${text.length} characters): expected 64 hex digits, optionally in colon-separated pairs and prefixed with "sha256:"`,
    );
  }
  return PREFIX + rest.replaceAll(":", "").toLowerCase();
}
