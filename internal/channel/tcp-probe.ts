import { connect } from "node:net";
import { parseHostPort } from "../grpc/host-port.js";

/**
 * Whether a TCP connection to host:port opens within timeoutMs. A hub restarting refuses at once
 * or accepts (however slow its TLS then is); a black-holed network answers nothing, and a gRPC
 * attempt begun there would hang in TCP's own retries long after the network came back.
 */
export function tcpReachable(target: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  const { host, port } = parseHostPort(target, "hub address");
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (ok: boolean): void => {
      socket.destroy();
      signal?.removeEventListener("abort", onAbort);
      resolve(ok);
    };
    const onAbort = (): void => done(false);
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.once("connect", () => done(true));
    socket.once("timeout", () => done(false));
    socket.once("error", () => done(false));
  });
}
