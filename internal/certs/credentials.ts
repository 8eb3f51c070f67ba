import type { X509Certificate } from "node:crypto";
import { CertificateError } from "./errors.js";
import { commonNameOf, isValidNodeId, nodeUri, peerUris } from "./identity.js";
import { publicKeyDerOf } from "./keys.js";
import { hasPublicKey, messageOf, parseCertificate } from "./parse.js";

export interface NodeCredentials {
  nodeId: string;
  keyPem: string;
  clientCertPem: string;
  serverCertPem: string;
  caCertPem: string;
}

export const NODE_FILES = {
  nodeId: "node-id",
  keyPem: "node.key",
  clientCertPem: "node.crt",
  serverCertPem: "node-server.crt",
  caCertPem: "ca.crt",
} as const satisfies Record<keyof NodeCredentials, string>;

export interface CredentialProblem {
  /** The file (one of NODE_FILES) the problem is in. */
  file: string;
  message: string;
}

/**
 * Whether the pieces belong together: both certificates carry the key, name the node id and were
 * signed by the CA. Expiry is not a problem here: an expired set is still the node's, and renewal
 * decides what to do about it.
 */
export function findCredentialProblem(creds: NodeCredentials): CredentialProblem | undefined {
  if (!isValidNodeId(creds.nodeId)) return { file: NODE_FILES.nodeId, message: "not a valid node id" };
  let spki: Buffer;
  try {
    spki = publicKeyDerOf(creds.keyPem);
  } catch (err) {
    return { file: NODE_FILES.keyPem, message: messageOf(err) };
  }
  let ca: X509Certificate;
  try {
    ca = parseCertificate(creds.caCertPem, "CA certificate");
  } catch (err) {
    return { file: NODE_FILES.caCertPem, message: messageOf(err) };
  }
  for (const field of ["clientCertPem", "serverCertPem"] as const) {
    const problem = certificateProblem(creds[field], creds.nodeId, spki, ca);
    if (problem) return { file: NODE_FILES[field], message: problem };
  }
  return undefined;
}

function certificateProblem(pem: string, nodeId: string, spki: Buffer, ca: X509Certificate): string | undefined {
  let cert: X509Certificate;
  try {
    cert = parseCertificate(pem);
  } catch (err) {
    return messageOf(err);
  }
  if (!hasPublicKey(cert, spki)) return `the certificate does not match ${NODE_FILES.keyPem}`;
  const names = cert.toLegacyObject();
  if (commonNameOf(names) !== nodeId || !peerUris(names).includes(nodeUri(nodeId))) {
    return `the certificate is not for node ${nodeId}`;
  }
  return cert.verify(ca.publicKey) ? undefined : `the certificate was not signed by ${NODE_FILES.caCertPem}`;
}

export function invalidCredentials(problem: CredentialProblem): CertificateError {
  return new CertificateError("invalid_credentials", `${problem.file}: ${problem.message}`);
}
