import { isIP } from "node:net";
import { InvalidArgumentError } from "commander";
import { normalizeFingerprint } from "../certs/fingerprint.js";
import { sanHosts } from "../certs/san-hosts.js";
import { parseHostPort } from "../grpc/host-port.js";
import { redactDatabaseUrl } from "../hub/store/database-url.js";

/**
 * Parsers for addresses, URLs and fingerprints: a typo is refused at start, naming the key and its
 * source, instead of failing deep inside the program later. Each returns the text as given (or
 * its canonical form) so the options keep their string types. Ethereum addresses are parsed in
 * eth-address-parser.ts: ethers, which checks them, is not for node-daemon's start.
 */

/** "" means "not set" for an optional setting; anything else must pass `parse`. */
export const optional =
  <T>(parse: (v: string) => T) =>
  (v: string): T | undefined =>
    v.trim() === "" ? undefined : parse(v);

/** host:port a client dials, e.g. the hub's gRPC address. */
export function dialAddress(v: string): string {
  try {
    parseHostPort(v, "address");
  } catch {
    throw new InvalidArgumentError("expected host:port, e.g. hub.example.com:8443 or [2001:db8::1]:8443");
  }
  return v.trim();
}

/** A DNS name or an IP address (IPv6 without brackets): what can go into a certificate. */
export function hostName(v: string): string {
  const t = v.trim();
  try {
    if (t === "" || /^\[.*\]$/.test(t)) throw new Error("empty or bracketed");
    sanHosts([t]);
  } catch {
    throw new InvalidArgumentError("expected a DNS name or an IP address, e.g. gpu1.example.com, 203.0.113.10 or 2001:db8::10");
  }
  return t;
}

/** An EIP-4361 domain: host or host:port, an IPv6 host in brackets ("hub.example.com:8080", "[::1]:8080"). */
export function siweDomain(v: string): string {
  const t = v.trim();
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(t);
  const ok = m !== null && (m[3] === undefined || Number(m[3]) <= 65535) && hostOk(m[1] ?? m[2] ?? "", m[1] !== undefined);
  if (!ok) throw new InvalidArgumentError("expected a host or host:port with no scheme or path, e.g. hub.example.com:8080 or [::1]:8080");
  return t;
}

function hostOk(host: string, bracketed: boolean): boolean {
  try {
    sanHosts([host]);
  } catch {
    return false;
  }
  // Brackets are for IPv6 only; an IPv6 host without them is ambiguous with the port.
  return bracketed === host.includes(":");
}

/** An http:// or https:// origin; a path would be dropped silently, so it is refused. */
export function httpUrl(v: string): string {
  let url: URL;
  try {
    url = new URL(v.trim());
  } catch {
    throw new InvalidArgumentError("expected an https:// URL, e.g. https://hub.example.com:8080");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new InvalidArgumentError(`expected an https:// URL, got a ${url.protocol} URL`);
  if (url.username || url.password || url.pathname !== "/" || url.search || url.hash) {
    throw new InvalidArgumentError(`expected scheme, host and port only, e.g. ${url.origin}`);
  }
  return url.origin;
}

/** sha256:<64 hex>, in any of the forms operators paste; kept in the canonical form. */
export function fingerprint(v: string): string {
  try {
    return normalizeFingerprint(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** postgres:// or postgresql://; messages show the URL with its password redacted. */
export function postgresUrl(v: string): string {
  let protocol: string;
  try {
    protocol = new URL(v.trim()).protocol;
  } catch {
    throw new InvalidArgumentError("not a URL (the value is not shown); expected postgres://user:password@host:5432/dbname, special characters in the password percent-encoded");
  }
  if (protocol !== "postgres:" && protocol !== "postgresql:") {
    throw new InvalidArgumentError(`${redactDatabaseUrl(v.trim())} is not a postgres:// or postgresql:// URL`);
  }
  return v.trim();
}

/** An IP address or a CIDR ("10.0.0.0/8", "2001:db8::/32"): a network the hub trusts as a proxy. */
export function cidr(v: string): string {
  const t = v.trim();
  const [addr = "", bits, extra] = t.split("/");
  const family = isIP(addr);
  const max = family === 6 ? 128 : 32;
  if (family === 0 || extra !== undefined || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max))) {
    throw new InvalidArgumentError("expected an IP address or a CIDR, e.g. 10.0.0.0/8, 127.0.0.1 or fd00::/8");
  }
  return t;
}

/** A JSON-RPC endpoint: http(s), a path allowed (providers put the API key there). */
export function rpcUrl(v: string): string {
  let url: URL;
  try {
    url = new URL(v.trim());
  } catch {
    throw new InvalidArgumentError("expected an http(s):// JSON-RPC URL, e.g. http://127.0.0.1:8545");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new InvalidArgumentError(`expected an http(s):// JSON-RPC URL, got a ${url.protocol} URL`);
  return url.href;
}
