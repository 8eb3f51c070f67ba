import { CertificateError } from "./errors.js";
import { P256_ALGORITHM, SIGNING_ALGORITHM, type NodeKey } from "./keys.js";
import { messageOf } from "./parse.js";
import { x509 } from "./x509-setup.js";

/** A P-256 CSR is well under 1 KiB; anything far larger is not worth parsing. */
const MAX_CSR_PEM_CHARS = 16 * 1024;

/** The subject is informational only: the hub decides the identity it certifies. */
export async function createCsr(key: NodeKey, commonName: string): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [commonName] }],
    keys: key.keys,
    signingAlgorithm: SIGNING_ALGORITHM,
  });
  return csr.toString("pem");
}

/**
 * Parses a CSR from a node and checks what the hub relies on: the requester holds the private key
 * (the CSR's self-signature verifies) and the key is ECDSA P-256. Returns the public key to certify.
 */
export async function verifiedCsrPublicKey(csrPem: string): Promise<x509.PublicKey> {
  if (csrPem.length > MAX_CSR_PEM_CHARS) {
    throw new CertificateError("invalid_csr", `CSR is ${csrPem.length} characters; at most ${MAX_CSR_PEM_CHARS} are accepted`);
  }
  if (!csrPem.includes("-----BEGIN CERTIFICATE REQUEST-----")) {
    throw new CertificateError("invalid_csr", "CSR is not a PEM certificate request");
  }
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new CertificateError("invalid_csr", `CSR cannot be parsed: ${messageOf(err)}`);
  }
  let alg: { name?: string; namedCurve?: string };
  try {
    alg = csr.publicKey.algorithm;
  } catch {
    throw new CertificateError("unsupported_key", "CSR key algorithm is not recognised; only ECDSA P-256 is accepted");
  }
  if (alg.name !== P256_ALGORITHM.name || alg.namedCurve !== P256_ALGORITHM.namedCurve) {
    const what = alg.namedCurve ? `${alg.name ?? "?"} ${alg.namedCurve}` : (alg.name ?? "unknown");
    throw new CertificateError("unsupported_key", `CSR key is ${what}; only ECDSA P-256 is accepted`);
  }
  let valid: boolean;
  try {
    valid = await csr.verify();
  } catch (err) {
    throw new CertificateError("invalid_csr", `CSR signature cannot be checked: ${messageOf(err)}`);
  }
  if (!valid) {
    throw new CertificateError("invalid_csr", "CSR signature does not verify: the requester did not prove it holds the key");
  }
  return csr.publicKey;
}
