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

/** The machine's IPv4 addresses on its networks (loopback left out): where a LAN announcement goes. */
export function lanAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((addrs) => addrs ?? [])
    .filter((a) => a.family === "IPv4" && !a.internal)
    .map((a) => a.address);
}

/** The first non-loopback IPv4 address: what renters will most likely reach this machine on. */
export function guessPublicAddress(): string | undefined {
  return lanAddresses()[0];
}
