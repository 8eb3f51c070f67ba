import { CertificateError } from "./errors.js";
import { x509 } from "./x509-setup.js";

/** Parses one PEM certificate; `what` names it in the error ("ca.crt", "the hub's certificate"). */
export function parseCertificate(pem: string, what = "certificate"): x509.X509Certificate {
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new CertificateError("invalid_certificate", `${what} is not a PEM certificate`);
  }
  try {
    return new x509.X509Certificate(pem);
  } catch (err) {
    throw new CertificateError("invalid_certificate", `${what} cannot be parsed: ${messageOf(err)}`);
  }
}

/** Whether the certificate carries exactly this public key (DER SubjectPublicKeyInfo). */
export function hasPublicKey(cert: x509.X509Certificate, spkiDer: Uint8Array): boolean {
  return Buffer.from(cert.publicKey.rawData).equals(Buffer.from(spkiDer));
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
