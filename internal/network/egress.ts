import { readFile } from "node:fs/promises";
import { isIPv4 } from "node:net";

/**
 * IPv4 ranges a rental may not reach (IANA's special-purpose registry, the ranges it marks not
 * globally reachable, plus multicast): other machines on the provider's LAN or VPC, cloud metadata
 * services (169.254.169.254, Alibaba's 100.100.100.200), the host's loopback, other containers'
 * bridges. `-rental-egress-allow` opens parts of them again.
 */
export const BLOCKED_IPV4: readonly string[] = [
  "0.0.0.0/8", // "this network"
  "10.0.0.0/8", // RFC 1918
  "100.64.0.0/10", // carrier-grade NAT (RFC 6598); Alibaba Cloud's metadata lives here
  "127.0.0.0/8", // loopback
  "169.254.0.0/16", // link-local: AWS/GCP/Azure/OCI metadata at 169.254.169.254
  "172.16.0.0/12", // RFC 1918; Docker's default bridges
  "192.0.0.0/24", // IETF protocol assignments
  "192.0.2.0/24", // TEST-NET-1
  "192.168.0.0/16", // RFC 1918
  "198.18.0.0/15", // benchmarking
  "198.51.100.0/24", // TEST-NET-2
  "203.0.113.0/24", // TEST-NET-3
  "224.0.0.0/4", // multicast
  "240.0.0.0/4", // reserved, and the limited broadcast address
];

/** "10.1.2.0/24" as iptables writes it; throws on anything but an IPv4 address or CIDR. */
export function parseIpv4Cidr(text: string): string {
  const t = text.trim();
  const [addr = "", bits, ...rest] = t.split("/");
  if (rest.length > 0 || !isIPv4(addr)) throw new Error("expected an IPv4 address or CIDR, e.g. 10.20.0.0/16 (rental networks are IPv4 only)");
  if (bits === undefined) return `${addr}/32`;
  if (!/^\d{1,2}$/.test(bits) || Number(bits) > 32) throw new Error("the prefix length after / must be 0 to 32");
  const n = Number(bits);
  const value = addr.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
  const mask = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
  const net = (value & mask) >>> 0;
  return `${[24, 16, 8, 0].map((s) => (net >>> s) & 255).join(".")}/${n}`;
}

/** Host files the engine's embedded DNS takes its upstream servers from (20.10: the first, or systemd-resolved's). */
export const RESOLV_CONF_FILES = ["/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"];

/**
 * The IPv4 name servers the engine's resolver forwards rentals' queries to. They are usually
 * private (a VPC resolver, the LAN router), and the resolver sends from inside the container, so
 * these get port 53 and nothing else. Loopback entries are left out: the engine replaces them.
 */
export async function upstreamNameServers(files: readonly string[] = RESOLV_CONF_FILES): Promise<string[]> {
  const found = new Set<string>();
  for (const file of files) {
    const text = await readFile(file, "utf8").catch(() => "");
    for (const line of text.split("\n")) {
      const m = /^\s*nameserver\s+(\S+)/.exec(line);
      const addr = m?.[1];
      if (addr && isIPv4(addr) && !addr.startsWith("127.")) found.add(addr);
    }
  }
  return [...found];
}
