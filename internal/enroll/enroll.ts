import type { Logger } from "pino";
import type { SignInSigner } from "../auth/sign-in-request.js";
import type { NodeCredentials } from "../certs/cert-dir.js";
import { newKeyAndCsr } from "../certs/csr-process.js";
import { HttpError, requestJson, type HttpTarget } from "../httpclient/json-client.js";
import { NodeInfo, NonceResponse, RegisterNodeResponse, SignInResponse } from "../proto/gen/gpunode/v1/gpunode.js";
import { AppError } from "../errors/app-error.js";

export class EnrollError extends AppError {
  override readonly shownToUser = true;
  override readonly name = "EnrollError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface EnrollOptions {
  hub: HttpTarget;
  /** -siwe-domain; without it the daemon signs for the domain the hub names in its nonce answer. */
  siweDomain?: string;
  /** -chain-id; without it the daemon signs for the chain the hub names in its nonce answer. */
  chainId?: number;
  machineId: string;
  previousNodeId?: string;
}

const SIGN_IN_STATEMENT = "Register this machine as a GPU node with the rental hub.";
const SIGN_IN_LIFETIME_MS = 5 * 60_000;

/**
 * Signs in with the wallet (EIP-4361) and trades a fresh key's CSR for the node's certificates.
 * The node key is made on this machine (in a helper process) and never leaves it.
 */
export async function enroll(
  opts: EnrollOptions,
  info: NodeInfo,
  deps: { signer: SignInSigner; logger: Logger; signal?: AbortSignal },
): Promise<NodeCredentials> {
  const { signal, logger } = deps;
  const nonce = NonceResponse.fromJSON(await call(() => requestJson(opts.hub, "GET", "/v1/auth/nonce", { signal }), "asking the hub for a sign-in nonce"));
  const domain = opts.siweDomain ?? (nonce.domain || new URL(opts.hub.baseUrl).host);
  if (nonce.domain && nonce.domain !== domain) {
    logger.warn({ ours: domain, hubs: nonce.domain }, `the hub expects SIWE domain ${nonce.domain}, not ${domain}: leave -siwe-domain unset or set it to the hub's, or sign-in will be refused`);
  }
  const chainId = opts.chainId ?? (nonce.chainId || 1);
  if (nonce.chainId && nonce.chainId !== chainId) {
    logger.warn({ ours: chainId, hubs: nonce.chainId }, `the hub expects chain id ${nonce.chainId}, not ${chainId}: leave -chain-id unset or set it to the hub's, or sign-in will be refused`);
  }
  const { message, signature } = await deps.signer.signIn(
    {
      domain,
      // The hub takes the URI to be its domain's origin, so it follows the domain, not the address dialled.
      uri: `${new URL(opts.hub.baseUrl).protocol}//${domain}`,
      chainId,
      nonce: nonce.nonce,
      statement: SIGN_IN_STATEMENT,
      expiresInMs: SIGN_IN_LIFETIME_MS,
    },
    signal,
  );
  const session = SignInResponse.fromJSON(
    await call(() => requestJson(opts.hub, "POST", "/v1/auth/verify", { body: { message, signature }, signal }), "signing in with the wallet"),
  );
  logger.info({ address: session.address }, `signed in as ${session.address}`);

  const { keyPem, csrPem } = await newKeyAndCsr("gpu-node", signal);
  const registered = RegisterNodeResponse.fromJSON(
    await call(
      () =>
        requestJson(opts.hub, "POST", "/v1/nodes/register", {
          bearer: session.token,
          body: { csrPem, info: NodeInfo.toJSON(info), machineId: opts.machineId, ...(opts.previousNodeId ? { nodeId: opts.previousNodeId } : {}) },
          signal,
        }),
      "registering the node",
    ),
  );
  const bundle = registered.bundle;
  if (!bundle) throw new EnrollError("bad_response", "the hub registered the node but sent no certificate");
  logger.info({ nodeId: registered.nodeId, created: registered.created, notAfter: bundle.notAfter }, `node ${registered.created ? "registered" : "re-registered"}: ${registered.nodeId}; certificate valid until ${bundle.notAfter}`);
  return { nodeId: registered.nodeId, keyPem, clientCertPem: bundle.clientCertPem, serverCertPem: bundle.serverCertPem, caCertPem: bundle.caCertPem };
}

async function call<T>(fn: () => Promise<T>, what: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof HttpError) throw new EnrollError(err.code, `${what} failed: ${err.message}${hint(err.code)}`);
    throw new EnrollError("hub_unreachable", `${what} failed: ${(err as Error).message}`);
  }
}

function hint(code: string): string {
  if (code === "domain_mismatch") return " (set -siwe-domain to the domain the hub expects: the hub's SIWE_DOMAIN / -siwe-domain)";
  if (code === "chain_id_mismatch") return " (set -chain-id to the hub's chain id)";
  if (code === "expired" || code === "issued_in_future" || code === "issued_too_long_ago") return " (check that this machine's clock is right: timedatectl)";
  return "";
}
