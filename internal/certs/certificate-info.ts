import { certificateFingerprint } from "./fingerprint.js";
import { parseCertificate } from "./parse.js";
import { x509 } from "./x509-setup.js";

export interface CertificateInfo {
  commonName: string;
  /** Lowercase hex, as the issuer wrote it. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  uris: string[];
  dnsNames: string[];
  ipAddresses: string[];
  fingerprint: string;
}

/** The fields the daemon and the hub log, store and decide renewal on. */
export function describeCertificate(certPem: string): CertificateInfo {
  const cert = parseCertificate(certPem);
  const names = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON() ?? [];
  const valuesOf = (type: string): string[] => names.filter((n) => n.type === type).map((n) => n.value);
  return {
    commonName: cert.subjectName.getField("CN")[0] ?? "",
    serial: cert.serialNumber.toLowerCase(),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    uris: valuesOf("url"),
    dnsNames: valuesOf("dns"),
    ipAddresses: valuesOf("ip"),
    fingerprint: certificateFingerprint(certPem),
  };
}
