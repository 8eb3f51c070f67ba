/**
 * The daemon's dial (internal/channel/hub-client.ts: same credentials, hub check, keepalive and
 * target-name override) with one option more: a subchannel pool per channel. grpc-js keeps one
 * process-wide pool and scans every pooled subchannel of the same address on each new channel,
 * comparing credentials: with thousands of simulated nodes in one process that is quadratic and
 * slowed the bench's own dials (a daemon has one channel, so it never pays it).
 */
import { credentials } from "@grpc/grpc-js";
import { HUB_COMMON_NAME, isHubPeer } from "../../internal/certs/identity.js";
import { KEEPALIVE_OPTIONS } from "../../internal/grpc/keepalive.js";
import { HubChannelServiceClient } from "../../internal/proto/gen/gpunode/v1/gpunode.js";
import type { ClientTls } from "../../internal/channel/hub-client.js";

export function simNodeClient(target: string, tls: ClientTls): HubChannelServiceClient {
  const creds = credentials.createSsl(Buffer.from(tls.caCertPem), Buffer.from(tls.keyPem), Buffer.from(tls.clientCertPem), {
    checkServerIdentity: (_name, cert) => (isHubPeer(cert) ? undefined : new Error(`${target} presented a certificate that is not the hub's`)),
  });
  return new HubChannelServiceClient(target, creds, { ...KEEPALIVE_OPTIONS, "grpc.ssl_target_name_override": HUB_COMMON_NAME, "grpc.use_local_subchannel_pool": 1 });
}
