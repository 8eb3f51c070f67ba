import type { Command, CommandResult } from "../../proto/gen/gpunode/v1/gpunode.js";
import type { HubChannel } from "../channel/hub-channel.js";
import { NodeDisconnectedError, NodeTimeoutError } from "../channel/node-session.js";
import { ApiError } from "../http/api-error.js";

export const nodeOffline = (nodeId: string, detail = "it is offline"): ApiError =>
  new ApiError(409, "node_offline", `node ${nodeId} cannot be asked now: ${detail}; try again once it is back online`);

/** A command to a node whose failures are the caller's to read: 409 node_offline, 504 node_timeout. */
export async function askNode(channel: HubChannel, nodeId: string, body: Command["body"], timeoutMs: number): Promise<CommandResult> {
  if (!channel.isConnected(nodeId)) throw nodeOffline(nodeId);
  try {
    return await channel.sendCommand(nodeId, body, { timeoutMs });
  } catch (err) {
    if (err instanceof NodeDisconnectedError) throw nodeOffline(nodeId, "it disconnected before answering");
    if (err instanceof NodeTimeoutError) throw new ApiError(504, "node_timeout", `node ${nodeId} did not answer within ${timeoutMs / 1000} s; it may still be working on it`);
    throw err;
  }
}
