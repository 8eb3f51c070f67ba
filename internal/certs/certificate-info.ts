import type { X509Certificate } from "node:crypto";
import { CertificateError } from "./errors.js";
import { certificateFingerprint } from "./fingerprint.js";
import { commonNameOf, parseSubjectAltName } from "./identity.js";
import { parseCertificate } from "./parse.js";

export interface CertificateInfo {
  commonName: string;
  /** Lowercase hex, as the issuer wrote it. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  uris: string[];
  dnsNames: string[];
  /** IPv6 in its short form ("::1"). */
  ipAddresses: string[];
  fingerprint: string;
}

/** The fields the daemon and the hub log, store and decide renewal on. */
export function describeCertificate(certPem: string): CertificateInfo {
  const cert = parseCertificate(certPem);
  const names = parseSubjectAltName(cert.subjectAltName ?? "");
  const valuesOf = (type: string): string[] => names.filter((n) => n.type === type).map((n) => n.value);
  return {
    commonName: commonNameOf(cert.toLegacyObject()) ?? "",
    serial: cert.serialNumber.toLowerCase(),
    notBefore: validityDate(cert, "validFrom"),
    notAfter: validityDate(cert, "validTo"),
    uris: valuesOf("URI"),
    dnsNames: valuesOf("DNS"),
    // OpenSSL writes IPv6 in full ("0:0:0:0:0:0:0:1"); the URL parser shortens it.
    ipAddresses: valuesOf("IP Address").map((ip) => (ip.includes(":") ? new URL(`http://[${ip}]`).hostname.slice(1, -1) : ip)),
    fingerprint: certificateFingerprint(certPem),
  };
}

/** OpenSSL's "Dec  6 16:33:35 2026 GMT", as node:crypto gives it before Node 22's validFromDate. */
function validityDate(cert: X509Certificate, field: "validFrom" | "validTo"): Date {
  const date = new Date(cert[field]);
  if (Number.isNaN(date.getTime())) throw new CertificateError("invalid_certificate", `the certificate's ${field} (${cert[field]}) is not a date`);
  return date;
}
