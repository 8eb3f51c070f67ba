import type { Server } from "node:net";
import { SshGatewayError } from "./errors.js";

export interface PortRange {
  first: number;
  last: number;
}

/** "2200-2299" (or one port, "2200") -> {first, last}; anything else throws "invalid_port_range". */
export function parsePortRange(text: string): PortRange {
  const m = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(text);
  const bad = (why: string): never => {
    throw new SshGatewayError("invalid_port_range", `port range ${JSON.stringify(text)}: ${why} (expected "FIRST-LAST", e.g. "2200-2299")`);
  };
  if (!m?.[1]) return bad("not a range");
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  if (first < 1 || last > 65535) bad("ports must lie within 1-65535");
  if (first > last) bad("the first port is above the last");
  return { first, last };
}

export function formatPortRange(r: PortRange): string {
  return r.first === r.last ? String(r.first) : `${r.first}-${r.last}`;
}

/**
 * Makes `server` listen on the first free port of `range`, trying `preferred` first when it lies in
 * the range. A port is free when binding it works: ports held by anything else on the host (another
 * rental, docker-proxy, a system service) fail with EADDRINUSE and are skipped. Any other bind
 * error (EACCES, EADDRNOTAVAIL) is a configuration problem and is thrown as is.
 */
export async function listenInRange(server: Server, host: string, range: PortRange, preferred?: number, signal?: AbortSignal): Promise<number> {
  const inRange = preferred !== undefined && preferred >= range.first && preferred <= range.last;
  const order = inRange ? [preferred] : [];
  for (let port = range.first; port <= range.last; port++) if (port !== preferred) order.push(port);
  for (const port of order) {
    signal?.throwIfAborted();
    if (await tryListen(server, host, port)) return port;
  }
  throw new SshGatewayError("ports_exhausted", `no free port in ${formatPortRange(range)} on ${host}: every port is in use`);
}

function tryListen(server: Server, host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off("listening", onListening);
      if (err.code === "EADDRINUSE") resolve(false);
      else reject(err);
    };
    const onListening = (): void => {
      server.off("error", onError);
      resolve(true);
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen({ port, host, exclusive: true });
  });
}
