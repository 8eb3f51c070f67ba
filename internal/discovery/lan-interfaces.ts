import { networkInterfaces } from "node:os";

/** The machine's IPv4 addresses on its networks (loopback left out): where a LAN announcement goes. */
export function lanAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((addrs) => addrs ?? [])
    .filter((a) => a.family === "IPv4" && !a.internal)
    .map((a) => a.address);
}
