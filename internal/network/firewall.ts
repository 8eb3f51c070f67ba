import { dirname, join } from "node:path";
import { BLOCKED_IPV4 } from "./egress.js";
import { firewallChains, nodeBridgePrefix, RENTAL_BRIDGE_PREFIX } from "./names.js";
import { findTool, runTool, ToolError } from "./run-tool.js";

export interface FirewallPolicy {
  nodeId: string;
  /** IPv4 CIDRs (iptables form) rentals may reach despite BLOCKED_IPV4 and the host block. */
  allow: readonly string[];
  /** Upstream name servers of the engine's resolver: port 53 only. */
  dnsServers: readonly string[];
}

/** Docker's documented hook for user rules: evaluated before its own, when it manages iptables. */
const DOCKER_USER = "DOCKER-USER";

/**
 * The node's rules, as iptables-restore lines, matched by interface name (`<node prefix>+`) so
 * they hold for every rental bridge of the node, present and future: there is nothing to add per
 * rental, and no moment where a new rental runs before its rules exist.
 *
 * FORWARD (routed traffic):
 *  - into any rental bridge (any node's): only replies to what the rental opened; nothing else
 *    forwarded may open a connection to a rental (other rentals, miners, the LAN), and one of this
 *    node's rentals trying is refused at once rather than left to time out;
 *  - out of this node's rentals: replies; DNS to the engine's upstream servers; never to another
 *    container bridge; the allow-list; then BLOCKED_IPV4 is refused, anything else (the internet)
 *    goes on to the host's own rules: we only ever restrict.
 * INPUT (to the host itself, on any of its addresses): replies (the SSH gateway's -L connections
 * into the rental), DNS and the allow-list; everything else is refused.
 */
export function ipv4Rules(p: FirewallPolicy): { chains: Chains; lines: string[] } {
  const chains = firewallChains(p.nodeId);
  const { forward: F, input: I, reject: R } = chains;
  const REJECT4 = `-j ${R}`;
  const mine = `-i ${nodeBridgePrefix(p.nodeId)}+`;
  const anyRental = `${RENTAL_BRIDGE_PREFIX}+`;
  const established = "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN";
  const dns = (chain: string): string[] =>
    p.dnsServers.flatMap((ns) => [`-A ${chain} ${mine} -d ${hostCidr(ns)} -p udp -m udp --dport 53 -j RETURN`, `-A ${chain} ${mine} -d ${hostCidr(ns)} -p tcp -m tcp --dport 53 -j RETURN`]);
  return {
    chains,
    lines: [
      `-A ${F} -o ${anyRental} ${established}`,
      `-A ${F} ${mine} ${established}`,
      `-A ${F} ${mine} -o ${anyRental} ${REJECT4}`,
      `-A ${F} -o ${anyRental} -j DROP`,
      ...dns(F),
      `-A ${F} ${mine} -o docker0 ${REJECT4}`,
      `-A ${F} ${mine} -o br-+ ${REJECT4}`,
      ...p.allow.map((cidr) => `-A ${F} ${mine} -d ${cidr} -j RETURN`),
      ...BLOCKED_IPV4.map((cidr) => `-A ${F} ${mine} -d ${cidr} ${REJECT4}`),
      `-A ${I} ${mine} ${established}`,
      ...dns(I),
      ...p.allow.map((cidr) => `-A ${I} ${mine} -d ${cidr} -j RETURN`),
      `-A ${I} ${mine} ${REJECT4}`,
      // Refused, not dropped: the renter's connect fails at once ("connection refused" for TCP;
      // ICMP "administratively prohibited" otherwise, which the kernel rate-limits).
      `-A ${R} -p tcp -j REJECT --reject-with tcp-reset`,
      `-A ${R} -j REJECT --reject-with icmp-admin-prohibited`,
    ],
  };
}

/** Rental networks are IPv4 only and the engine turns IPv6 off inside them; should any slip through, it goes nowhere. */
export function ipv6Rules(nodeId: string): { chains: Chains; lines: string[] } {
  const chains = firewallChains(nodeId);
  const mine = `-i ${nodeBridgePrefix(nodeId)}+`;
  return {
    chains,
    lines: [`-A ${chains.forward} -o ${RENTAL_BRIDGE_PREFIX}+ -j DROP`, `-A ${chains.forward} ${mine} -j DROP`, `-A ${chains.input} ${mine} -j DROP`],
  };
}

function hostCidr(addr: string): string {
  return addr.includes("/") ? addr : `${addr}/32`;
}

type Chains = ReturnType<typeof firewallChains>;

interface Family {
  name: "IPv4" | "IPv6";
  save: string;
  restore: string;
  rules: { chains: Chains; lines: string[] };
}

/**
 * The node's rental rules in the host's iptables (IPv4, and IPv6 where ip6tables works). Needs
 * root or CAP_NET_ADMIN in the network namespace the engine's bridges live in.
 */
export class RentalFirewall {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly families: Family[],
    /** Why IPv6 is not covered, when it is not. */
    readonly ipv6Gap: string | undefined,
  ) {}

  /**
   * Finds the tools and checks that they may read the rules here. Rejects with ToolError, in the
   * tools' words, where they cannot (not root, no iptables): rentals then cannot be isolated.
   */
  static async open(policy: FirewallPolicy, opts: { path?: string; signal?: AbortSignal } = {}): Promise<RentalFirewall> {
    const v4 = await family("IPv4", "iptables", ipv4Rules(policy), opts);
    if (!v4) throw new ToolError("iptables-save/iptables-restore not found (install the iptables package)");
    await runTool(v4.save, ["-t", "filter"], { signal: opts.signal });
    const v6 = await family("IPv6", "ip6tables", ipv6Rules(policy.nodeId), opts);
    let gap: string | undefined = v6 ? undefined : "ip6tables not found";
    if (v6) {
      gap = await runTool(v6.save, ["-t", "filter"], { signal: opts.signal }).then(
        () => undefined,
        (err: Error) => err.message,
      );
    }
    return new RentalFirewall(gap === undefined && v6 ? [v4, v6] : [v4], gap);
  }

  /** The chains as they should be, hooked once: idempotent, atomic per family (one iptables-restore). */
  ensure(signal?: AbortSignal): Promise<void> {
    return this.serial(async () => {
      for (const f of this.families) {
        const saved = await runTool(f.save, ["-t", "filter"], { signal });
        const { forward, input, reject } = f.rules.chains;
        const hooks = [
          ["FORWARD", forward],
          ["INPUT", input],
          ...(hasChain(saved, DOCKER_USER) ? [[DOCKER_USER, forward]] : []),
        ].filter(([from, to]) => !hasHook(saved, from!, to!));
        // Declaring a chain with --noflush empties it (or makes it) in the same transaction that refills it.
        const text = ["*filter", `:${forward} - [0:0]`, `:${input} - [0:0]`, `:${reject} - [0:0]`, ...f.rules.lines, ...hooks.map(([from, to]) => `-I ${from} 1 -j ${to}`), "COMMIT", ""].join("\n");
        await runTool(f.restore, ["-w", "--noflush"], { input: text, signal });
      }
    });
  }

  /** Unhooks and deletes the node's chains (tests; a node retired for good). Missing ones are fine. */
  remove(signal?: AbortSignal): Promise<void> {
    return this.serial(async () => {
      for (const f of this.families) await removeChains(f.save, f.restore, f.rules.chains, signal);
    });
  }

  /** Whether the node's chains are hooked in (IPv4). */
  async hooked(signal?: AbortSignal): Promise<{ forward: number; input: number }> {
    const f = this.families[0]!;
    const saved = await runTool(f.save, ["-t", "filter"], { signal });
    return { forward: countHooks(saved, "FORWARD", f.rules.chains.forward), input: countHooks(saved, "INPUT", f.rules.chains.input) };
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

/** Removes one node's chains without a policy (tests clean up after a daemon they killed). */
export async function removeNodeFirewall(nodeId: string, opts: { path?: string; signal?: AbortSignal } = {}): Promise<void> {
  const chains = firewallChains(nodeId);
  for (const name of ["iptables", "ip6tables"]) {
    const f = await tools(name, opts.path);
    if (!f) continue;
    const ok = await runTool(f.save, ["-t", "filter"], { signal: opts.signal }).then(() => true, () => false);
    if (ok) await removeChains(f.save, f.restore, chains, opts.signal);
  }
}

async function removeChains(save: string, restore: string, chains: Chains, signal?: AbortSignal): Promise<void> {
  const saved = await runTool(save, ["-t", "filter"], { signal });
  const lines: string[] = [];
  for (const from of ["FORWARD", DOCKER_USER]) for (let i = countHooks(saved, from, chains.forward); i > 0; i--) lines.push(`-D ${from} -j ${chains.forward}`);
  for (let i = countHooks(saved, "INPUT", chains.input); i > 0; i--) lines.push(`-D INPUT -j ${chains.input}`);
  // Flushed first, all of them: the others jump to the reject chain, which goes last.
  const present = [chains.forward, chains.input, chains.reject].filter((c) => hasChain(saved, c));
  lines.push(...present.map((c) => `-F ${c}`), ...present.map((c) => `-X ${c}`));
  if (lines.length === 0) return;
  await runTool(restore, ["-w", "--noflush"], { input: ["*filter", ...lines, "COMMIT", ""].join("\n"), signal });
}

async function tools(name: string, path?: string): Promise<{ save: string; restore: string } | undefined> {
  const save = await findTool(`${name}-save`, path);
  if (!save) return undefined;
  const restore = join(dirname(save), `${name}-restore`);
  return { save, restore };
}

async function family(name: Family["name"], tool: string, rules: Family["rules"], opts: { path?: string }): Promise<Family | undefined> {
  const t = await tools(tool, opts.path);
  return t && { name, ...t, rules };
}

function hasChain(saved: string, chain: string): boolean {
  return saved.split("\n").some((l) => l.startsWith(`:${chain} `));
}

function countHooks(saved: string, from: string, to: string): number {
  return saved.split("\n").filter((l) => l.trim() === `-A ${from} -j ${to}`).length;
}

function hasHook(saved: string, from: string, to: string): boolean {
  return countHooks(saved, from, to) > 0;
}
