import { credentials } from "@grpc/grpc-js";
import { HUB_COMMON_NAME, isHubPeer } from "../certs/identity.js";
import { KEEPALIVE_OPTIONS } from "../grpc/keepalive.js";
import { HubChannelServiceClient } from "../proto/gen/gpunode/v1/gpunode.js";

export interface ClientTls {
  caCertPem: string;
  keyPem: string;
  clientCertPem: string;
}

/**
 * A gRPC client for the hub at target. The hub is recognised by its role in a certificate from
 * the pinned CA, not by the name or address dialled (an IP literal is no valid TLS server name).
 */
export function hubClient(target: string, tls: ClientTls): HubChannelServiceClient {
  const creds = credentials.createSsl(Buffer.from(tls.caCertPem), Buffer.from(tls.keyPem), Buffer.from(tls.clientCertPem), {
    checkServerIdentity: (_name, cert) => (isHubPeer(cert) ? undefined : new Error(`${target} presented a certificate that is not the hub's`)),
  });
  return new HubChannelServiceClient(target, creds, { ...KEEPALIVE_OPTIONS, "grpc.ssl_target_name_override": HUB_COMMON_NAME });
}
