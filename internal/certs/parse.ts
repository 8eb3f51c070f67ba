import { X509Certificate } from "node:crypto";
import { CertificateError } from "./errors.js";

/**
 * Parses one PEM certificate with node:crypto (OpenSSL, already in the process); `what` names it in
 * the error ("ca.crt", "the hub's certificate"). Reading certificates never loads @peculiar/x509,
 * which only the hub's CA needs to write them: the daemon keeps ~9 MiB less (bench/daemon-memory.ts).
 */
export function parseCertificate(pem: string, what = "certificate"): X509Certificate {
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new CertificateError("invalid_certificate", `${what} is not a PEM certificate`);
  }
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new CertificateError("invalid_certificate", `${what} cannot be parsed: ${messageOf(err)}`);
  }
}

/** Whether the certificate carries exactly this public key (DER SubjectPublicKeyInfo). */
export function hasPublicKey(cert: X509Certificate, spkiDer: Uint8Array): boolean {
  return cert.publicKey.export({ type: "spki", format: "der" }).equals(spkiDer);
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
