import { join } from "node:path";
import { z } from "zod";

/**
 * What node-daemon and node-ssh-gateway say to each other over the gateway's socket: one JSON object a
 * line each way, requests numbered by the daemon and answered by number (in any order). The daemon and
 * the gateway may be different versions after an upgrade (the gateway is not restarted with the
 * daemon): a change to these messages gets a new PROTOCOL_VERSION, and hello refuses a mismatch.
 */
export const PROTOCOL_VERSION = 1;

/** A line longer than this is refused (an open carries a few public keys and a password hash). */
export const MAX_LINE_BYTES = 1024 * 1024;

/** <state dir>/ssh-gateway.sock, owner-only: whoever opens it decides who may log in to rentals. */
export function gatewaySocketPath(stateDir: string): string {
  return join(stateDir, "ssh-gateway.sock");
}

const portRange = z.object({ first: z.number().int().min(1).max(65535), last: z.number().int().min(1).max(65535) });

const sshAccess = z.object({
  rentalId: z.string().min(1),
  containerId: z.string().min(1),
  authorizedKeys: z.array(z.string()),
  passwordHash: z.string().optional(),
  user: z.string(),
  execUser: z.string().optional(),
  containerIp: z.string().optional(),
});

export const gatewayRequest = z.discriminatedUnion("op", [
  /** First on every connection: where listeners listen (the daemon's -ssh-listen-host and -ssh-ports). */
  z.object({ id: z.number().int(), op: z.literal("hello"), protocol: z.number().int(), listenHost: z.string().min(1), ports: portRange }),
  z.object({ id: z.number().int(), op: z.literal("open"), access: sshAccess, preferredPort: z.number().int().optional() }),
  z.object({ id: z.number().int(), op: z.literal("close"), rentalId: z.string().min(1) }),
  /** The daemon's whole set of rentals with SSH: every other listener is closed. */
  z.object({ id: z.number().int(), op: z.literal("retain"), rentalIds: z.array(z.string()) }),
]);
export type GatewayRequest = z.infer<typeof gatewayRequest>;
/** A request as the client writes it, before it has a number. */
export type GatewayCall = GatewayRequest extends infer R ? (R extends unknown ? Omit<R, "id"> : never) : never;

const hostKeyPin = z.object({ fingerprint: z.string(), publicKey: z.string() });

export const gatewayResponse = z.union([
  z.object({
    id: z.number().int(),
    ok: z.literal(true),
    /** hello: the host key renters pin, and the listeners already open (from the daemon's previous life). */
    hostKey: hostKeyPin.optional(),
    open: z.array(z.object({ rentalId: z.string(), port: z.number().int() })).optional(),
    /** open: the rental's port. */
    port: z.number().int().optional(),
    /** retain: the rentals whose listeners were closed. */
    closed: z.array(z.string()).optional(),
  }),
  z.object({ id: z.number().int(), ok: z.literal(false), code: z.string(), message: z.string() }),
]);
export type GatewayResponse = z.infer<typeof gatewayResponse>;
export type GatewayAnswer = Extract<GatewayResponse, { ok: true }>;

/**
 * Splits a byte stream into lines and hands each parsed line on; a line that is not JSON, or longer than
 * MAX_LINE_BYTES, calls onBad (the caller drops the connection: its peer speaks something else).
 */
export function lineReader(onLine: (value: unknown) => void, onBad: (why: string) => void): (chunk: string) => void {
  let buffered = "";
  return (chunk) => {
    buffered += chunk;
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line.trim() === "") continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        return onBad("a line that is not JSON");
      }
      onLine(value);
    }
    if (buffered.length > MAX_LINE_BYTES) onBad(`a line longer than ${MAX_LINE_BYTES} bytes`);
  };
}
