import type { Server as HttpServer, ServerOptions } from "node:http";
import type { Socket } from "node:net";

export interface ConnectionLimits {
  /** A request's headers must all arrive within this long. */
  headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveTimeoutMs: number;
  /** Open connections one client address may hold; more are closed at once. 0 = no cap. */
  perAddress: number;
}

export const defaultConnectionLimits: ConnectionLimits = { headersTimeoutMs: 10_000, keepAliveTimeoutMs: 5_000, perAddress: 128 };

/**
 * Server options that close slow and idle connections: a client that trickles its headers (slowloris)
 * is cut after headersTimeoutMs, checked every second rather than Node's default 30 s.
 */
export function timeoutOptions(l: ConnectionLimits): ServerOptions {
  return {
    headersTimeout: l.headersTimeoutMs,
    // The whole request (headers and body): a slow body is cut too. Responses (the SSE stream) are not limited.
    requestTimeout: Math.max(l.headersTimeoutMs, 30_000),
    keepAliveTimeout: l.keepAliveTimeoutMs,
    connectionsCheckingInterval: 1_000,
  };
}

/** Caps the connections one address holds open: each one past the cap is closed as it arrives. */
export function capConnectionsPerAddress(server: HttpServer, perAddress: number): void {
  if (perAddress <= 0) return;
  const open = new Map<string, number>();
  // TLS servers see the raw socket on "connection" too, before the handshake: a flood costs no handshake.
  server.on("connection", (socket: Socket) => {
    const addr = socket.remoteAddress ?? "unknown";
    const n = (open.get(addr) ?? 0) + 1;
    if (n > perAddress) {
      socket.destroy();
      return;
    }
    open.set(addr, n);
    socket.once("close", () => {
      const left = (open.get(addr) ?? 1) - 1;
      if (left > 0) open.set(addr, left);
      else open.delete(addr);
    });
  });
}
