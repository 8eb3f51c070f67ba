import { Bonjour, type Service } from "bonjour-service";
import { AppError } from "../errors/app-error.js";
import { HUB_SERVICE_TYPE } from "./hub-announcer.js";
import { lanAddresses } from "../util/net.js";

/** A hub that announced itself on the LAN. */
export interface FoundHub {
  name: string;
  /** Where its answer came from: an address of the hub's on this LAN. */
  address: string;
  grpcPort: number;
  httpPort: number;
  scheme: "https" | "http";
  caFingerprint: string;
}

export class DiscoveryError extends AppError {
  readonly code = "hub_discovery";
  override readonly shownToUser = true;
  override readonly name = "DiscoveryError";
}

/** Browses the LANs (every interface) for announced hubs for `timeoutMs`; one entry per hub (by CA) and address. */
export async function findHubs(opts: { timeoutMs: number; signal?: AbortSignal }): Promise<FoundHub[]> {
  const found = new Map<string, FoundHub>();
  const browsers = lanAddresses().map((address) => {
    const bonjour = new Bonjour({ interface: address, bind: "0.0.0.0" } as unknown as ConstructorParameters<typeof Bonjour>[0], () => undefined);
    bonjour.find({ type: HUB_SERVICE_TYPE }, (s: Service) => {
      const hub = parse(s);
      if (hub) found.set(`${hub.caFingerprint} ${hub.address}`, hub);
    });
    return bonjour;
  });
  try {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, opts.timeoutMs);
      opts.signal?.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
    });
  } finally {
    for (const b of browsers) b.destroy();
  }
  return [...found.values()];
}

/**
 * The hub to use among those found: the one whose CA is pinned, or the only one. Two hubs (two CAs)
 * and no pin: refused, listing them, rather than guessed.
 */
export function chooseHub(found: FoundHub[], pinned: string | undefined): FoundHub {
  const candidates = pinned ? found.filter((h) => h.caFingerprint === pinned) : found;
  const cas = new Set(candidates.map((h) => h.caFingerprint));
  const list = found.map((h) => `  ${h.name}: ${h.address} gRPC ${h.grpcPort}, ${h.scheme} ${h.httpPort}, CA ${h.caFingerprint}`).join("\n");
  if (candidates.length === 0) {
    throw new DiscoveryError(
      pinned
        ? `no hub with CA ${pinned} announced itself on the LAN${found.length ? `; found:\n${list}` : ""}`
        : "no hub announced itself on the LAN (start rental-hub with -announce, or give -hub HOST:PORT)",
    );
  }
  if (cas.size > 1) throw new DiscoveryError(`${cas.size} hubs announced themselves on the LAN; name one with -hub-ca-fingerprint (or -hub HOST:PORT):\n${list}`);
  return candidates[0] as FoundHub;
}

function parse(s: Service): FoundHub | undefined {
  const txt = (s.txt ?? {}) as Record<string, string>;
  const address = s.referer?.address;
  const grpcPort = Number(txt.grpc);
  const httpPort = Number(txt.http);
  if (!address || !Number.isInteger(grpcPort) || !Number.isInteger(httpPort) || !/^sha256:[0-9a-f]{64}$/.test(txt.ca ?? "")) return undefined;
  return { name: s.name, address, grpcPort, httpPort, scheme: txt.scheme === "http" ? "http" : "https", caFingerprint: txt.ca ?? "" };
}
