import { connect, type Socket } from "node:net";
import type { AcceptConnection, RejectConnection, ServerChannel, TcpipRequestInfo } from "ssh2";
import type { Logger } from "../log/logger.js";

/** How long a forward may take to reach the container's port before it is refused. */
export const FORWARD_CONNECT_TIMEOUT_MS = 10_000;

/** Names a renter may give for "the container itself" in `ssh -L local:HOST:port`. */
const SELF_NAMES: ReadonlySet<string> = new Set(["localhost", "127.0.0.1", "::1", "0.0.0.0"]);

export interface ForwardContext {
  /** The container's bridge IP; forwards are refused without one. */
  containerIp: string | undefined;
  log: Logger;
  /** Aborts when the connection or the rental's listener closes. */
  signal: AbortSignal;
}

/** Why a direct-tcpip request is refused, or undefined when it may go to containerIp:destPort. */
export function forwardRefusal(info: Pick<TcpipRequestInfo, "destIP" | "destPort">, containerIp: string | undefined): string | undefined {
  if (!containerIp) return "this rental's container has no network address, so port forwarding is unavailable";
  if (!Number.isInteger(info.destPort) || info.destPort < 1 || info.destPort > 65535) return "destination port out of range";
  if (!SELF_NAMES.has(info.destIP) && info.destIP !== containerIp) {
    return `only the container itself can be reached (use localhost:PORT or ${containerIp}:PORT)`;
  }
  return undefined;
}

/**
 * `ssh -L` (direct-tcpip): connects to containerIp:destPort, whatever name the renter used for the
 * container, and pipes both ways. The channel is opened only once the container's port answers, so
 * the client sees a refused port as a failed channel. Note a service listening only on the
 * container's 127.0.0.1 cannot be reached this way: the host connects to the bridge address.
 */
export function handleDirectTcpip(accept: AcceptConnection<ServerChannel>, reject: RejectConnection, info: TcpipRequestInfo, ctx: ForwardContext): void {
  const refusal = forwardRefusal(info, ctx.containerIp);
  if (refusal !== undefined || !ctx.containerIp) {
    ctx.log.info({ destIP: info.destIP, destPort: info.destPort, why: refusal }, "SSH port forward refused");
    return reject();
  }
  const target = { host: ctx.containerIp, port: info.destPort };
  if (ctx.signal.aborted) return reject();
  const socket: Socket = connect({ ...target, timeout: FORWARD_CONNECT_TIMEOUT_MS });
  const onAbort = (): void => void socket.destroy();
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  socket.once("close", () => ctx.signal.removeEventListener("abort", onAbort));

  const fail = (err: Error): void => {
    ctx.log.info({ ...target, err: err.message }, "SSH port forward: container port unreachable");
    socket.destroy();
    reject();
  };
  const onTimeout = (): void => fail(new Error("connect timed out"));
  socket.once("timeout", onTimeout);
  socket.once("error", fail);
  socket.once("connect", () => {
    socket.off("error", fail);
    socket.off("timeout", onTimeout);
    socket.setTimeout(0);
    const channel = accept();
    socket.on("error", (err) => ctx.log.debug({ ...target, err: err.message }, "SSH port forward: socket error"));
    channel.on("error", (err: Error) => ctx.log.debug({ err: err.message }, "SSH port forward: channel error"));
    channel.pipe(socket);
    socket.pipe(channel);
    channel.once("close", () => socket.destroy());
    socket.once("close", () => channel.end());
    ctx.log.debug(target, "SSH port forward opened");
  });
}
