import { createServer } from "node:net";
import { networkInterfaces } from "node:os";

/** Asks the kernel for a free TCP port on host (for a listener that must know its port before it can start). */
export function reserveFreePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/** The first non-loopback IPv4 address: what renters will most likely reach this machine on. */
export function guessPublicAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return undefined;
}
