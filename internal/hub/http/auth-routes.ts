import type { IncomingMessage } from "node:http";
import { SiweRefusal, refusalStatus } from "../../auth/refusal.js";
import type { NonceStore } from "../../auth/nonce-store.js";
import { TokenRefusal, type SessionTokens } from "../../auth/session-tokens.js";
import type { SiwePolicy, SiweVerifier } from "../../auth/siwe-verifier.js";
import type { HubMetrics } from "../../metrics/hub-metrics.js";
import { getNonce, getSignInMessage, signIn } from "../../hubapi/auth.js";
import type { AccessControl } from "../access/access-control.js";
import { getAddress, isAddress } from "ethers";
import { MAX_SIGN_IN_LIFETIME_MS } from "../../auth/sign-in-request.js";
import { signInMessage } from "../../auth/siwe-signer.js";
import { ApiError, badRequest, rateLimited, unauthorized } from "./api-error.js";
import type { RateLimiter } from "./rate-limit.js";
import type { ClientAddress } from "./client-address.js";
import { sessionToken, setSessionCookie } from "./session-cookie.js";
import type { Router } from "./router.js";

export interface AuthRouteDeps {
  policy: SiwePolicy;
  nonces: NonceStore;
  verifier: SiweVerifier;
  tokens: SessionTokens;
  tokenTtlMs: number;
  metrics: HubMetrics | null;
  /** Sign-in attempts per IP, and sign-ins per wallet that proved it signed. */
  limits: { perIp: RateLimiter; perAddress: RateLimiter };
  access: AccessControl;
  /** Which address a request counts against (the client's, behind a trusted proxy). */
  clientAddress: ClientAddress;
}

const BROWSER_STATEMENT = "Sign in to the GPU rental hub dashboard.";

export function addAuthRoutes(router: Router, deps: AuthRouteDeps): void {
  router.on(getNonce, async ({ req }) => {
    limit(deps.limits.perIp, `ip:${deps.clientAddress.of(req)}`);
    const { nonce, expiresAt } = deps.nonces.issue();
    return { nonce, expiresAt: expiresAt.toISOString(), domain: deps.policy.domain, uri: deps.policy.uriOrigin, chainId: deps.policy.chainId };
  });

  // For a browser wallet: the hub builds the EIP-4361 text (with siwe, the address EIP-55 cased) and
  // the page only asks the wallet to sign it; the verifier then checks it like any other.
  router.on(getSignInMessage, async ({ req, query }) => {
    limit(deps.limits.perIp, `ip:${deps.clientAddress.of(req)}`);
    const raw = query().address;
    // The schema checks the form; a mixed-case address must also carry a valid EIP-55 checksum.
    if (!isAddress(raw)) throw badRequest("invalid_address", "address must be an Ethereum address (0x and 40 hex digits)");
    const { nonce, expiresAt } = deps.nonces.issue();
    const now = Date.now();
    const message = signInMessage({
      domain: deps.policy.domain,
      address: getAddress(raw.toLowerCase()),
      statement: BROWSER_STATEMENT,
      uri: deps.policy.uriOrigin,
      chainId: deps.policy.chainId,
      nonce,
      issuedAt: new Date(now),
      expirationTime: new Date(Math.min(now + MAX_SIGN_IN_LIFETIME_MS, expiresAt.getTime())),
    });
    return { message, nonce, expiresAt: expiresAt.toISOString() };
  });

  router.on(signIn, async ({ req, res, body: read }) => {
    limit(deps.limits.perIp, `ip:${deps.clientAddress.of(req)}`);
    const body = await read();
    try {
      const signedIn = await deps.verifier.verify(body.message, body.signature);
      // Charged to the wallet only once its signature is proven: a message that merely names a
      // wallet must not spend that wallet's sign-ins (anyone could lock a provider out).
      limit(deps.limits.perAddress, `address:${signedIn.address.toLowerCase()}`);
      const ban = deps.access.walletBan(signedIn.address);
      if (ban) throw new ApiError(403, "wallet_banned", `wallet ${signedIn.address} is banned by the hub's operator: ${ban.reason || "no reason given"}`);
      const { token, expiresAt } = deps.tokens.issue(signedIn.address);
      setSessionCookie(res, token, Math.floor(deps.tokenTtlMs / 1000));
      deps.metrics?.signIns.inc({ outcome: "ok" });
      return { token, address: signedIn.address, expiresAt: expiresAt.toISOString() };
    } catch (err) {
      deps.metrics?.signIns.inc({ outcome: err instanceof SiweRefusal || err instanceof ApiError ? err.code : "error" });
      if (err instanceof SiweRefusal) throw new ApiError(refusalStatus(err.code), err.code, err.message);
      throw err;
    }
  });
}

function limit(limiter: RateLimiter, key: string): void {
  const wait = limiter.take(key);
  if (wait > 0) throw rateLimited("too many sign-in attempts", wait);
}

/** The wallet behind the request's session, or null when it has none; a token that is sent but refused is a 401. */
export function optionalWallet(req: IncomingMessage, tokens: SessionTokens): string | null {
  return sessionToken(req) === undefined ? null : requireWallet(req, tokens);
}

/** The wallet behind the request's session (bearer token or cookie). */
export function requireWallet(req: IncomingMessage, tokens: SessionTokens): string {
  try {
    return tokens.verify(sessionToken(req)).address;
  } catch (err) {
    if (err instanceof TokenRefusal) throw unauthorized(err.code, `${err.message}; sign in again at /v1/auth/verify`);
    throw err;
  }
}
