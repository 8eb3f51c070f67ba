import type { BaseWallet } from "ethers";
import { createSignIn } from "../auth/siwe-signer.js";
import { certificateFingerprint, normalizeFingerprint } from "../certs/fingerprint.js";
import { HttpError, type HttpTarget, requestJson } from "../httpclient/json-client.js";
import type { PublicNodeView } from "../hubapi/nodes.js";
import type { RentalView } from "../hubapi/rentals.js";
import { CliError } from "./cli-error.js";
import type { Session } from "./session-store.js";

/** What anyone sees of a node (a provider's own nodes carry more, which the CLI does not read). */
export type NodeView = PublicNodeView;
export type { RentalView };

/** The hub's REST API as the renter's CLI uses it: every refusal becomes a CliError with the hub's code and message. */
export class HubApi {
  constructor(
    private readonly target: HttpTarget,
    private readonly token?: string,
  ) {}

  static of(s: Session): HubApi {
    return new HubApi({ baseUrl: s.hubHttp, ca: s.caCertPem }, s.token);
  }

  call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return requestJson<T>(this.target, method, path, { body, bearer: this.token }).catch((err: unknown) => {
      if (err instanceof HttpError) throw new CliError(err.code, `${err.message} (${err.code})`);
      throw new CliError("hub_unreachable", `the hub at ${this.target.baseUrl} did not answer: ${(err as Error).message}`);
    });
  }

  /** EIP-4361 sign-in for the domain the hub names; returns the session token. */
  async signIn(wallet: BaseWallet): Promise<{ token: string; address: string; expiresAt: string }> {
    const { nonce, domain, uri, chainId } = await this.call<{ nonce: string; domain: string; uri: string; chainId: number }>("GET", "/v1/auth/nonce");
    const signed = await createSignIn({ signer: wallet, domain, uri, chainId, nonce, statement: "Sign in to rent GPUs." });
    return this.call("POST", "/v1/auth/verify", signed);
  }
}

/**
 * The hub's CA: fetched from /v1/ca and checked against the pin when one is given; with none it is
 * trusted on first use, which the caller says out loud.
 */
export async function fetchHubCa(hubHttp: string, pin: string | undefined): Promise<{ caCertPem: string; fingerprint: string }> {
  let caCertPem: string;
  try {
    ({ caCertPem } = await requestJson<{ caCertPem: string }>({ baseUrl: hubHttp, unverified: true }, "GET", "/v1/ca"));
  } catch (err) {
    throw new CliError("hub_unreachable", `the hub at ${hubHttp} did not answer: ${(err as Error).message}`);
  }
  const fingerprint = certificateFingerprint(caCertPem);
  if (pin && normalizeFingerprint(pin) !== fingerprint) {
    throw new CliError("hub_ca_mismatch", `the hub at ${hubHttp} presents CA ${fingerprint}, not the pinned ${normalizeFingerprint(pin)}: refusing to sign in (wrong hub, or someone in between)`);
  }
  return { caCertPem, fingerprint };
}
