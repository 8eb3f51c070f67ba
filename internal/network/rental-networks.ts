import { access } from "node:fs/promises";
import type { Logger } from "pino";
import type { ContainerEngine } from "../container/engine.js";
import { ContainerError } from "../container/errors.js";
import { LABELS } from "../container/labels.js";
import { upstreamNameServers } from "./egress.js";
import { RentalFirewall } from "./firewall.js";
import { rentalBridgeName, rentalNetworkFilter, rentalNetworkLabels, rentalNetworkName } from "./names.js";

/**
 * Where rentals' containers are attached. Isolated: each rental gets a bridge network of its own,
 * and the node's firewall chains keep it from other rentals, the host, and private, link-local and
 * metadata addresses. Otherwise every rental shares the engine's default bridge and `notice` says
 * so (it reaches the hub in the node's notices).
 */
export interface RentalNetworks {
  /** Undefined while rentals are isolated; else why they are not. */
  readonly notice: string | undefined;
  /** The network to attach the rental's container to; made (and the firewall checked) first. Idempotent. */
  prepare(rentalId: string, signal?: AbortSignal): Promise<string>;
  /** Once the rental's container is removed: its network goes too. Never throws (logged). */
  release(rentalId: string, signal?: AbortSignal): Promise<void>;
  /**
   * At start and after the engine comes back: the rules are put back (idempotently) for adopted
   * rentals, and this node's networks whose rental is not in `known` (no container, not starting)
   * are removed.
   */
  reconcile(known: ReadonlySet<string>, signal?: AbortSignal): Promise<void>;
}

export interface RentalNetworkOptions {
  nodeId: string;
  /** -rental-isolation: false runs rentals on the shared bridge, said in the notice. */
  isolation: boolean;
  /** -rental-egress-allow, in iptables form (see parseIpv4Cidr). */
  egressAllow: readonly string[];
  /** For tests: where iptables is looked for first (PATH when absent). */
  toolPath?: string;
  /** For tests: the resolv.conf files to take the DNS servers from. */
  resolvConf?: readonly string[];
}

export const NOT_ISOLATED = "rentals are NOT isolated: they share the engine's default bridge and can reach each other, this host's services, the LAN and cloud metadata (169.254.169.254)";

/**
 * Checks what this machine allows and answers the isolated kind where it can. Never throws: a
 * daemon that cannot manage the rules still runs rentals, and says why they are not isolated.
 */
export async function openRentalNetworks(opts: RentalNetworkOptions, deps: { engine: ContainerEngine; logger: Logger }, signal?: AbortSignal): Promise<RentalNetworks> {
  if (!opts.isolation) return new SharedBridge(`${NOT_ISOLATED} (-rental-isolation=false)`, opts.nodeId, deps);
  try {
    await sameNetworkNamespace(deps.engine, signal);
    const dnsServers = await upstreamNameServers(opts.resolvConf);
    const firewall = await RentalFirewall.open({ nodeId: opts.nodeId, allow: opts.egressAllow, dnsServers }, { ...(opts.toolPath ? { path: opts.toolPath } : {}), signal });
    if (firewall.ipv6Gap) deps.logger.info({ reason: firewall.ipv6Gap }, "no IPv6 rules for rentals (their networks are IPv4 only)");
    deps.logger.info({ allow: opts.egressAllow, dnsServers }, "rentals get a network of their own, firewalled from each other, this host and private ranges");
    return new IsolatedNetworks(opts.nodeId, firewall, deps);
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    return new SharedBridge(`${NOT_ISOLATED}: this daemon cannot manage the firewall (${(err as Error).message}); run it as root or with CAP_NET_ADMIN, with iptables installed`, opts.nodeId, deps);
  }
}

/**
 * The rules live in the daemon's network namespace; they guard the bridges only if the engine's
 * bridges live there too (not so for a daemon in a container of its own network).
 */
async function sameNetworkNamespace(engine: ContainerEngine, signal?: AbortSignal): Promise<void> {
  const bridge = await engine.inspectNetwork("bridge", signal).catch(() => undefined);
  const name = bridge?.options["com.docker.network.bridge.name"];
  if (!name) return; // no default bridge to compare with: each rental's bridge is checked when made
  if (!(await interfaceExists(name))) throw new Error(`the engine's bridge ${name} is not in this daemon's network namespace`);
}

function interfaceExists(name: string): Promise<boolean> {
  return access(`/sys/class/net/${name}`).then(
    () => true,
    () => false,
  );
}

/** Both kinds remove networks the same way: a rental started while isolation was on ends cleanly after it is off. */
abstract class Base implements RentalNetworks {
  abstract readonly notice: string | undefined;
  abstract prepare(rentalId: string, signal?: AbortSignal): Promise<string>;

  constructor(
    protected readonly nodeId: string,
    protected readonly deps: { engine: ContainerEngine; logger: Logger },
  ) {}

  async release(rentalId: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.deps.engine.removeNetwork(rentalNetworkName(rentalId), signal);
    } catch (err) {
      this.deps.logger.warn({ rentalId, reason: (err as Error).message }, "could not remove the rental's network; the next start of the daemon tries again");
    }
  }

  async reconcile(known: ReadonlySet<string>, signal?: AbortSignal): Promise<void> {
    const nets = await this.networks(signal);
    for (const n of nets) {
      const rentalId = n.labels[LABELS.rentalId];
      if (rentalId && !known.has(rentalId)) await this.release(rentalId, signal);
    }
  }

  protected networks(signal?: AbortSignal): ReturnType<ContainerEngine["listNetworks"]> {
    return this.deps.engine.listNetworks({ labels: rentalNetworkFilter(this.nodeId) }, signal);
  }
}

class SharedBridge extends Base {
  constructor(
    readonly notice: string,
    nodeId: string,
    deps: { engine: ContainerEngine; logger: Logger },
  ) {
    super(nodeId, deps);
    deps.logger.warn(notice);
  }

  async prepare(): Promise<string> {
    return "bridge";
  }
}

class IsolatedNetworks extends Base {
  readonly notice = undefined;
  /** The engine's MTU for its default bridge, copied to rental bridges (a cloud VM's 1460, ...). */
  private mtu: Promise<string | undefined> | undefined;

  constructor(
    nodeId: string,
    private readonly firewall: RentalFirewall,
    deps: { engine: ContainerEngine; logger: Logger },
  ) {
    super(nodeId, deps);
  }

  async prepare(rentalId: string, signal?: AbortSignal): Promise<string> {
    // Every start checks the rules: a provider's `iptables -F` or a firewall reload since is repaired here.
    await this.firewall.ensure(signal);
    const name = rentalNetworkName(rentalId);
    const bridge = rentalBridgeName(this.nodeId, rentalId);
    const labels = rentalNetworkLabels(this.nodeId, rentalId);
    this.mtu ??= this.deps.engine.inspectNetwork("bridge", signal).then(
      (n) => n.options["com.docker.network.driver.mtu"],
      () => undefined,
    );
    const mtu = await this.mtu;
    try {
      await this.deps.engine.createNetwork(
        {
          name,
          labels,
          options: {
            "com.docker.network.bridge.name": bridge,
            // One container per network; said anyway, for an engine that manages iptables.
            "com.docker.network.bridge.enable_icc": "false",
            ...(mtu ? { "com.docker.network.driver.mtu": mtu } : {}),
          },
        },
        signal,
      );
    } catch (err) {
      if (!(err instanceof ContainerError && err.code === "conflict")) throw err;
      // Made by an earlier try of this start (or a daemon that died before its container): ours, so reuse it.
      const existing = await this.deps.engine.inspectNetwork(name, signal);
      if (existing.labels[LABELS.nodeId] !== this.nodeId || existing.options["com.docker.network.bridge.name"] !== bridge) {
        throw new ContainerError("conflict", `network ${name} exists and is not this rental's`);
      }
    }
    // Fail closed: rules that match no interface guard nothing.
    if (!(await interfaceExists(bridge))) {
      await this.release(rentalId, signal);
      throw new ContainerError("engine_error", `the rental's bridge ${bridge} did not appear in this daemon's network namespace: refusing to run it unisolated`);
    }
    return name;
  }

  override async reconcile(known: ReadonlySet<string>, signal?: AbortSignal): Promise<void> {
    await super.reconcile(known, signal);
    const left = await this.networks(signal);
    if (left.length > 0) await this.firewall.ensure(signal);
  }
}
