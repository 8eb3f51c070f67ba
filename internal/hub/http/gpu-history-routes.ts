import { getNodeGpuHistory } from "../../hubapi/nodes.js";
import type { HubChannel } from "../channel/hub-channel.js";
import { GpuHistory } from "../gpu-history.js";
import type { HubStore } from "../store/hub-store.js";
import { notFound } from "./api-error.js";
import type { Router } from "./router.js";

export interface GpuHistoryRouteDeps {
  store: Pick<HubStore, "getNode">;
  /** The channel's events: every heartbeat adds its GPUs' samples. */
  nodeEvents: HubChannel["events"];
  /** Given, it is fed and served as it is (tests); otherwise one with the default hour and bounds. */
  history?: GpuHistory;
}

/**
 * GET /v1/nodes/{id}/gpu-history: the last hour of each GPU's utilisation, memory used and
 * temperature, column by column (what the dashboard's charts take). Public, like the GPUs in
 * GET /v1/nodes: the numbers are the same, kept for an hour.
 */
export function addGpuHistoryRoutes(router: Router, deps: GpuHistoryRouteDeps): GpuHistory {
  const history = deps.history ?? new GpuHistory();
  history.attach(deps.nodeEvents);
  router.on(getNodeGpuHistory, async ({ params }) => {
    const node = await deps.store.getNode(params.id);
    if (!node) throw notFound("unknown_node", `no node ${params.id}`);
    return history.get(node.id);
  });
  return history;
}
