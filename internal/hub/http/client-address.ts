import type { IncomingMessage } from "node:http";
import { BlockList, isIP } from "node:net";

/**
 * The address a request came from. Behind a reverse proxy every request comes from the proxy: when
 * the connection's peer is a trusted proxy, the client is the rightmost address of X-Forwarded-For
 * that is not itself a trusted proxy (the ones to its left are whatever the client claimed).
 */
export class ClientAddress {
  private readonly trusted = new BlockList();
  private readonly any: boolean;

  /** CIDRs ("10.0.0.0/8", "::1/128") or single addresses. */
  constructor(trustedProxies: readonly string[]) {
    for (const entry of trustedProxies) {
      const [addr = "", bits] = entry.split("/");
      const family = isIP(addr) === 6 ? "ipv6" : "ipv4";
      if (bits === undefined) this.trusted.addAddress(addr, family);
      else this.trusted.addSubnet(addr, Number(bits), family);
    }
    this.any = trustedProxies.length > 0;
  }

  of(req: IncomingMessage): string {
    const peer = unmapped(req.socket.remoteAddress ?? "unknown");
    if (!this.any || !this.isTrusted(peer)) return peer;
    const header = req.headers["x-forwarded-for"];
    const hops = (Array.isArray(header) ? header.join(",") : (header ?? "")).split(",").map((h) => unmapped(h.trim())).filter((h) => isIP(h) !== 0);
    for (let i = hops.length - 1; i >= 0; i--) if (!this.isTrusted(hops[i]!)) return hops[i]!;
    return hops[0] ?? peer;
  }

  private isTrusted(addr: string): boolean {
    const family = isIP(addr);
    return family !== 0 && this.trusted.check(addr, family === 6 ? "ipv6" : "ipv4");
  }
}

/** "::ffff:10.0.0.1" is 10.0.0.1. */
function unmapped(addr: string): string {
  return addr.startsWith("::ffff:") && isIP(addr.slice(7)) === 4 ? addr.slice(7) : addr;
}
