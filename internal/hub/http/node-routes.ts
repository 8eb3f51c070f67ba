import type { Logger } from "pino";
import type { SessionTokens } from "../../auth/session-tokens.js";
import { RegisterNodeRequest, RegisterNodeResponse } from "../../proto/gen/gpunode/v1/gpunode.js";
import type { HubChannel } from "../channel/hub-channel.js";
import type { HeartbeatBuffer } from "../heartbeat-buffer.js";
import { fetchNodeStatus, type HubClientIdentity } from "../node-api-client.js";
import type { Presence } from "../presence.js";
import type { z } from "zod";
import { getNode, getNodeLive, listNodes, registerNode, type registerNodeResponseSchema } from "../../hubapi/nodes.js";
import type { NodeRegistry } from "../registry/node-registry.js";
import type { HubStore, NodeRecord } from "../store/hub-store.js";
import { ApiError, forbidden, notFound, rateLimited } from "./api-error.js";
import { optionalWallet, requireWallet } from "./auth-routes.js";
import { nodeViewFor } from "./node-views.js";
import type { ToolkitPolicy } from "../rentals/toolkit-policy.js";
import type { ReleaseCatalog } from "../releases/release-store.js";
import { RateLimiter } from "./rate-limit.js";
import type { Router } from "./router.js";

export interface NodeRouteDeps {
  tokens: SessionTokens;
  registry: NodeRegistry;
  store: HubStore;
  presence: Presence;
  heartbeats: HeartbeatBuffer;
  channel: Pick<HubChannel, "isConnected" | "isDraining">;
  /** The hub's current client identity (it renews). */
  hubIdentity: () => HubClientIdentity;
  logger: Logger;
  /** Which nodes get no rentals, and why: every node view says so. */
  toolkit: ToolkitPolicy;
  /** The recommended daemon version: each node view says whether the node runs an older one. */
  releases?: Pick<ReleaseCatalog, "behind">;
}

/** How often one wallet may make the hub dial its node's API. */
const LIVE_PROBES = { perMinute: 12, burst: 6 };

export function addNodeRoutes(router: Router, deps: NodeRouteDeps): void {
  const probes = new RateLimiter(LIVE_PROBES);

  router.on(registerNode, async ({ req, body: read }) => {
    const wallet = requireWallet(req, deps.tokens);
    const body = await read();
    const result = await deps.registry.register(wallet, RegisterNodeRequest.fromJSON(body));
    // The proto's JSON form (a field at its default left out), as the daemon's enroll reads it.
    return RegisterNodeResponse.toJSON(result) as z.input<typeof registerNodeResponseSchema>;
  });

  // Anyone may browse the marketplace; a provider signed in sees its own nodes whole.
  router.on(listNodes, async ({ req }) => {
    const viewer = optionalWallet(req, deps.tokens);
    const nodes = await deps.store.listNodes();
    return { nodes: nodes.map((n) => nodeViewFor(viewer, n, deps)) };
  });

  router.on(getNode, async ({ req, params }) => {
    const viewer = optionalWallet(req, deps.tokens);
    const node = await mustGetNode(deps, params.id);
    const view = nodeViewFor(viewer, node, deps);
    if (!("certificate" in view)) return view;
    const certificates = await deps.store.listCertificates(node.id);
    return { ...view, certificates: certificates.map((c) => ({ serial: c.serial, reason: c.reason, issuedAt: c.issuedAt.toISOString(), notAfter: c.notAfter.toISOString() })) };
  });

  // Asks the node itself, over its own mTLS API, as the hub. The hub dials an address the node
  // chose, so only the node's provider may ask, a few times a minute, and the dial's error stays in the log.
  router.on(getNodeLive, async ({ req, params }) => {
    const wallet = requireWallet(req, deps.tokens);
    const node = await mustGetNode(deps, params.id);
    if (wallet.toLowerCase() !== node.wallet.toLowerCase()) throw forbidden("not_node_owner", `node ${node.id} belongs to another wallet; only its provider may ask it directly`);
    const wait = probes.take(wallet.toLowerCase());
    if (wait > 0) throw rateLimited("too many direct node queries", wait);
    try {
      return await fetchNodeStatus(node, deps.hubIdentity(), 5_000);
    } catch (err) {
      deps.logger.warn({ err, nodeId: node.id, host: node.host, apiPort: node.apiPort }, "the node's API did not answer the hub");
      throw new ApiError(502, "node_unreachable", `node ${node.id}'s API did not answer the hub; the hub's log has the cause`);
    }
  });
}

async function mustGetNode(deps: NodeRouteDeps, id: string): Promise<NodeRecord> {
  const node = await deps.store.getNode(id);
  if (!node) throw notFound("unknown_node", `no node ${id}`);
  return node;
}
