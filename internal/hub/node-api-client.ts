import { credentials, Metadata } from "@grpc/grpc-js";
import { nodeIdOfPeer } from "../certs/identity.js";
import { formatHostPort } from "../grpc/host-port.js";
import { type GetStatusResponse, NodeApiServiceClient } from "../proto/gen/gpunode/v1/gpunode.js";
import type { NodeRecord } from "./store/hub-store.js";

export interface HubClientIdentity {
  caCertPem: string;
  keyPem: string;
  clientCertPem: string;
}

/** Calls a node's own API as the hub: the node's server certificate must carry the node id we expect. */
export async function fetchNodeStatus(node: NodeRecord, identity: HubClientIdentity, timeoutMs: number): Promise<GetStatusResponse> {
  const creds = credentials.createSsl(Buffer.from(identity.caCertPem), Buffer.from(identity.keyPem), Buffer.from(identity.clientCertPem), {
    checkServerIdentity: (_host, cert) =>
      nodeIdOfPeer(cert) === node.id ? undefined : new Error(`the server at ${node.host}:${node.apiPort} is not node ${node.id}`),
  });
  // Checked by node id above; the override keeps an IP literal out of the TLS server name.
  const client = new NodeApiServiceClient(formatHostPort({ host: node.host, port: node.apiPort }), creds, { "grpc.ssl_target_name_override": node.id });
  try {
    return await new Promise<GetStatusResponse>((resolve, reject) => {
      client.getStatus({}, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res)));
    });
  } finally {
    client.close();
  }
}
