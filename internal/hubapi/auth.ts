import { z } from "zod";
import { dateTimeSchema, intSchema, SESSION_COOKIE } from "./common.js";
import { operation } from "./operation.js";

export const nonceResponseSchema = z
  .object({
    nonce: z.string(),
    expiresAt: dateTimeSchema,
    domain: z.string().describe("the EIP-4361 domain the message must name"),
    uri: z.string().describe("the origin the message's URI must have"),
    chainId: intSchema,
  })
  .meta({ id: "NonceResponse" });

// No length limit on the message here: the verifier refuses an oversized one with its own reason
// ("oversized"); the body cap (SIGN_IN_MAX_BODY_BYTES) keeps what is read small.
export const signInRequestSchema = z
  .object({
    message: z.string().describe("EIP-4361 text"),
    signature: z.string().max(1024).describe("EIP-191 personal_sign signature, 0x-hex"),
  })
  .meta({ id: "SignInRequest" });

export const signInResponseSchema = z
  .object({
    token: z.string(),
    address: z.string().describe("EIP-55 checksummed"),
    expiresAt: dateTimeSchema,
  })
  .meta({ id: "SignInResponse" });

export const SIGN_IN_MAX_BODY_BYTES = 32_768;

const rateLimited = "rate_limited: too many sign-in attempts (Retry-After says when to come back)";

export const getNonce = operation({
  method: "GET",
  path: "/v1/auth/nonce",
  operationId: "getNonce",
  tags: ["auth"],
  summary: "A single-use sign-in nonce, and what the EIP-4361 message must name",
  security: "none",
  reply: { status: 200, description: "A nonce", schema: nonceResponseSchema },
  errors: { 429: rateLimited },
});

const ADDRESS = "must be an Ethereum address (0x and 40 hex digits)";

export const getSignInMessage = operation({
  method: "GET",
  path: "/v1/auth/message",
  operationId: "getSignInMessage",
  tags: ["auth"],
  summary: "For a browser wallet: an EIP-4361 message for this address (with a fresh nonce) that the wallet signs and POST /v1/auth/verify checks",
  security: "none",
  query: z.object({ address: z.string({ error: ADDRESS }).regex(/^0x[0-9a-fA-F]{40}$/, ADDRESS).describe("the wallet's address") }),
  queryError: "invalid_address",
  reply: { status: 200, description: "The message", schema: z.object({ message: z.string(), nonce: z.string(), expiresAt: dateTimeSchema }) },
  errors: { 400: "invalid_address", 429: rateLimited },
});

export const signIn = operation({
  method: "POST",
  path: "/v1/auth/verify",
  operationId: "signIn",
  tags: ["auth"],
  summary: "Checks a signed EIP-4361 message; answers a session token and sets the session cookie",
  security: "none",
  body: { schema: signInRequestSchema, maxBytes: SIGN_IN_MAX_BODY_BYTES },
  reply: {
    status: 200,
    description: "Signed in",
    schema: signInResponseSchema,
    headers: { "Set-Cookie": { description: `${SESSION_COOKIE}=<token>; Path=/; Secure; HttpOnly; SameSite=Lax` } },
  },
  errors: { 400: "invalid_request", 401: "The signature, nonce, domain, chain or times do not check out (the code says which)", 403: "wallet_banned", 413: "body_too_large", 429: rateLimited },
});

export const signOut = operation({
  method: "POST",
  path: "/v1/auth/signout",
  operationId: "signOut",
  tags: ["auth"],
  summary: "Revokes the session's token and clears the session cookie (idempotent)",
  security: "optional",
  reply: { status: 204, description: "Signed out", content: {}, headers: { "Set-Cookie": { description: `${SESSION_COOKIE}=; Max-Age=0` } } },
});
