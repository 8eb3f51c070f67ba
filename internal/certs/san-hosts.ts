import { isIP } from "node:net";
import { CertificateError } from "./errors.js";

/** A subjectAltName entry as @peculiar/x509 takes it (its JsonGeneralName), without loading it. */
export interface HostName {
  type: "ip" | "dns";
  value: string;
}

/** IP literals become IP SANs (TLS clients match IPs only against those), the rest DNS SANs. */
export function sanHosts(hosts: string[]): HostName[] {
  const seen = new Set<string>();
  const names: HostName[] = [];
  for (const raw of hosts) {
    const host = raw.trim().replace(/^\[(.*)\]$/, "$1").toLowerCase();
    if (seen.has(host)) continue;
    seen.add(host);
    if (isIP(host) !== 0) names.push({ type: "ip", value: host });
    else if (isDnsName(host)) names.push({ type: "dns", value: host });
    else throw new CertificateError("invalid_host", `${JSON.stringify(raw.slice(0, 260))} is neither an IP address nor a DNS name`);
  }
  return names;
}

const DNS_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

function isDnsName(host: string): boolean {
  return host.length <= 253 && DNS_NAME.test(host);
}
