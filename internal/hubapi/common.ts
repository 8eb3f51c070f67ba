import { z } from "zod";

/**
 * The pieces every view is made of. Response schemas are `z.object`s: parsing a view through one
 * drops whatever it does not declare, so a field reaches a client only once it is named here.
 */

/** Wei amounts are decimal strings: they do not fit a double. */
export const weiSchema = z
  .string()
  .regex(/^(0|[1-9][0-9]*)$/, "wei as a decimal string")
  .meta({ id: "Wei", description: "wei as a decimal string" });

/** A time the hub writes itself (Date.toISOString()). */
export const dateTimeSchema = z.iso.datetime();

/** A whole number (JSON has only numbers). */
export const intSchema = z.number().int();

/** Every non-2xx answer. */
export const apiErrorSchema = z
  .object({
    error: z.object({
      code: z.string().meta({ examples: ["nonce_replayed", "token_expired", "invalid_request", "no_capacity", "node_offline", "node_draining", "node_timeout"] }),
      message: z.string().describe("meant for people; the code is what programs compare"),
    }),
  })
  .meta({ id: "Error", description: "An error with a stable code" });

export type ApiErrorBody = z.infer<typeof apiErrorSchema>;

/** The name of the HttpOnly cookie that carries a browser's session (the same token as the bearer one). */
export const SESSION_COOKIE = "gpunode_session";

export const securitySchemes = {
  bearer: { type: "http", scheme: "bearer", description: "The token from POST /v1/auth/verify" },
  sessionCookie: { type: "apiKey", in: "cookie", name: SESSION_COOKIE, description: "Set by POST /v1/auth/verify for browsers (HttpOnly)" },
} as const;

export const tags = [
  { name: "hub", description: "Health and the hub's certificate authority" },
  { name: "auth", description: "Sign-In with Ethereum and sessions" },
  { name: "nodes", description: "Node registration and the marketplace's node list" },
  { name: "rentals", description: "Renters' rentals" },
  { name: "payments", description: "Paid rentals: the chain, the escrow and providers' earnings" },
  { name: "releases", description: "Signed node-daemon releases: what nodes update to" },
  { name: "live", description: "Server-Sent Events for the dashboard" },
  { name: "dashboard", description: "The browser dashboard served by the hub" },
] as const;

export type Tag = (typeof tags)[number]["name"];
