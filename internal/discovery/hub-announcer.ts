import { hostname } from "node:os";
import { Bonjour } from "bonjour-service";
import type { Logger } from "pino";
import { lanAddresses } from "../util/net.js";

/** The DNS-SD service type hubs announce and daemons browse for: _gpu-rental-hub._tcp. */
export const HUB_SERVICE_TYPE = "gpu-rental-hub";

export interface HubAnnouncement {
  grpcPort: number;
  httpPort: number;
  scheme: "https" | "http";
  /** sha256:... of the hub's CA: a daemon pins the hub it found by it. */
  caFingerprint: string;
  version: string;
}

/**
 * Announces the hub on every LAN it is on, over multicast DNS (DNS-SD, with bonjour-service): one
 * responder per interface, so that an answer leaves by the interface the question came in on.
 * The TXT record carries the ports and the CA fingerprint.
 */
export function announceHub(a: HubAnnouncement, logger: Logger): { addresses: string[]; close(): Promise<void> } {
  const addresses = lanAddresses();
  const responders = addresses.map((address) => {
    const bonjour = new Bonjour({ interface: address, bind: "0.0.0.0" } as unknown as ConstructorParameters<typeof Bonjour>[0], (err: Error) =>
      logger.warn({ err: err.message, address }, "multicast DNS failed on an interface"),
    );
    bonjour.publish({
      // Unique per hub (two hubs on one machine are two services): its CA, in short.
      name: `rental-hub ${a.caFingerprint.slice(7, 15)} on ${hostname()} (${address})`,
      type: HUB_SERVICE_TYPE,
      port: a.httpPort,
      probe: false,
      disableIPv6: true,
      txt: { grpc: String(a.grpcPort), http: String(a.httpPort), scheme: a.scheme, ca: a.caFingerprint, v: a.version },
    });
    return bonjour;
  });
  logger.info({ addresses }, `announcing the hub on the LAN (mDNS, _${HUB_SERVICE_TYPE}._tcp) on ${addresses.join(", ") || "no interface"}`);
  return {
    addresses,
    close: () => Promise.all(responders.map((b) => new Promise<void>((resolve) => b.unpublishAll(() => b.destroy(() => resolve()))))).then(() => undefined),
  };
}
