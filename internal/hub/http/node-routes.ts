import type { SessionTokens } from "../../auth/session-tokens.js";
import { RegisterNodeRequest, RegisterNodeResponse } from "../../proto/gen/gpunode/v1/gpunode.js";
import type { HubChannel } from "../channel/hub-channel.js";
import { nodeStatus } from "../dashboard/node-live-view.js";
import type { HeartbeatBuffer } from "../heartbeat-buffer.js";
import { fetchNodeStatus, type HubClientIdentity } from "../node-api-client.js";
import type { Presence } from "../presence.js";
import { registerNodeSchema } from "../registry/node-info-schema.js";
import type { NodeRegistry } from "../registry/node-registry.js";
import type { HubStore, NodeRecord } from "../store/hub-store.js";
import { ApiError, notFound } from "./api-error.js";
import { requireWallet } from "./auth-routes.js";
import { readJsonBody } from "./json-body.js";
import type { Router } from "./router.js";

export interface NodeRouteDeps {
  tokens: SessionTokens;
  registry: NodeRegistry;
  store: HubStore;
  presence: Presence;
  heartbeats: HeartbeatBuffer;
  channel: HubChannel;
  hubIdentity: HubClientIdentity;
}

export function addNodeRoutes(router: Router, deps: NodeRouteDeps): void {
  router.on("POST", "/v1/nodes/register", async ({ req }) => {
    const wallet = requireWallet(req, deps.tokens);
    const body = await readJsonBody(req, registerNodeSchema);
    const result = await deps.registry.register(wallet, RegisterNodeRequest.fromJSON(body));
    return RegisterNodeResponse.toJSON(result);
  });

  router.on("GET", "/v1/nodes", async () => {
    const nodes = await deps.store.listNodes();
    return { nodes: nodes.map((n) => nodeView(n, deps)) };
  });

  router.on("GET", "/v1/nodes/:id", async ({ params }) => {
    const node = await mustGetNode(deps, params.id ?? "");
    const certificates = await deps.store.listCertificates(node.id);
    return {
      ...nodeView(node, deps),
      certificates: certificates.map((c) => ({ serial: c.serial, reason: c.reason, issuedAt: c.issuedAt.toISOString(), notAfter: c.notAfter.toISOString() })),
    };
  });

  // Asks the node itself, over its own mTLS API, as the hub.
  router.on("GET", "/v1/nodes/:id/live", async ({ params }) => {
    const node = await mustGetNode(deps, params.id ?? "");
    try {
      return await fetchNodeStatus(node, deps.hubIdentity, 5_000);
    } catch (err) {
      throw new ApiError(502, "node_unreachable", `node API at ${node.host}:${node.apiPort} did not answer: ${(err as Error).message}`);
    }
  });
}

async function mustGetNode(deps: NodeRouteDeps, id: string): Promise<NodeRecord> {
  const node = await deps.store.getNode(id);
  if (!node) throw notFound("unknown_node", `no node ${id}`);
  return node;
}

function nodeView(n: NodeRecord, deps: NodeRouteDeps) {
  const hb = deps.heartbeats.get(n.id);
  return {
    id: n.id,
    wallet: n.wallet,
    host: n.host,
    apiPort: n.apiPort,
    pricePerSecWei: n.pricePerSecWei,
    // "draining" while online and taking no new rentals (node-daemon drain); offline is offline.
    status: nodeStatus(deps.presence.status(n.id), deps.channel.isDraining(n.id)),
    draining: deps.channel.isDraining(n.id),
    connected: deps.channel.isConnected(n.id),
    gpus: n.gpus,
    versions: n.versions,
    notices: n.notices,
    registeredAt: n.registeredAt.toISOString(),
    updatedAt: n.updatedAt.toISOString(),
    certificate: { serial: n.certSerial, notAfter: n.certNotAfter.toISOString() },
    lastHeartbeat: hb ? { seq: hb.seq, receivedAt: hb.receivedAt.toISOString(), body: hb.body } : null,
  };
}
