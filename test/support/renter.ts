import type { BaseWallet } from "ethers";
import { createSignIn } from "../../internal/auth/siwe-signer.js";
import { type HttpTarget, requestJson } from "../../internal/httpclient/json-client.js";

/** Signs a wallet in through the hub's REST API, as a renter's client does; returns the session token. */
export async function signIn(http: HttpTarget, wallet: BaseWallet): Promise<string> {
  const url = new URL(http.baseUrl);
  const { nonce } = await requestJson<{ nonce: string }>(http, "GET", "/v1/auth/nonce");
  const { message, signature } = await createSignIn({ signer: wallet, domain: url.host, uri: url.origin, chainId: 1, nonce, statement: "Sign in to rent GPUs." });
  return (await requestJson<{ token: string }>(http, "POST", "/v1/auth/verify", { body: { message, signature } })).token;
}
