import { randomBytes, webcrypto } from "node:crypto";
import { SIGNING_ALGORITHM } from "./keys.js";
import { sanHosts } from "./san-hosts.js";
import { x509 } from "./x509-setup.js";

export type Usage = "client" | "server";

export interface Issuer {
  cert: x509.X509Certificate;
  signingKey: webcrypto.CryptoKey;
}

export interface LeafRequest {
  publicKey: x509.PublicKey | webcrypto.CryptoKey;
  commonName: string;
  uris: string[];
  /** DNS names and IP literals; only for server certificates. */
  hosts?: string[];
  usage: Usage;
  notBefore: Date;
  notAfter: Date;
}

/** An end-entity certificate good for exactly one side of TLS: the EKU is what keeps a node's
 * client certificate from serving as a server one (and the other way round). */
export async function issueLeaf(issuer: Issuer, req: LeafRequest): Promise<x509.X509Certificate> {
  const names: x509.JsonGeneralName[] = [
    ...req.uris.map((value) => ({ type: "url" as const, value })),
    ...sanHosts(req.hosts ?? []),
  ];
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [req.commonName] }],
    issuer: issuer.cert.subjectName,
    notBefore: req.notBefore,
    notAfter: req.notAfter,
    publicKey: req.publicKey,
    signingKey: issuer.signingKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([req.usage === "client" ? x509.ExtendedKeyUsage.clientAuth : x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.SubjectKeyIdentifierExtension.create(req.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.cert.publicKey),
    ],
  });
}

/**
 * 16 random bytes as a positive DER integer of full length: the top bit is cleared (a set one
 * would make it negative) and the next one set (so no leading zero byte is dropped). 126 random
 * bits make a collision between two certificates of one CA practically impossible.
 */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  return bytes.toString("hex");
}
