import { createHash } from "node:crypto";
import { LABELS } from "../container/labels.js";

/**
 * Every rental bridge of every node starts with this: a packet forwarded into any of them that
 * the rental did not ask for is dropped, whichever node's rules see it first.
 */
export const RENTAL_BRIDGE_PREFIX = "gr";
/** Linux interface names hold at most 15 characters. */
const IFNAMSIZ_MAX = 15;
const NODE_TAG_LEN = 5;
const RENTAL_TAG_LEN = IFNAMSIZ_MAX - RENTAL_BRIDGE_PREFIX.length - NODE_TAG_LEN;

/** The label a rental's network carries in io.gpunode.kind (containers carry "rental"). */
export const RENTAL_NETWORK_KIND = "rental-network";

const hex = (s: string): string => createHash("sha256").update(s).digest("hex");

/** Short, stable, per node: it names the node's firewall chains and prefixes its bridges. */
export function nodeTag(nodeId: string): string {
  return hex(nodeId).slice(0, NODE_TAG_LEN);
}

/** Every bridge of this node's rentals starts with this (iptables matches `<prefix>+`). */
export function nodeBridgePrefix(nodeId: string): string {
  return `${RENTAL_BRIDGE_PREFIX}${nodeTag(nodeId)}`;
}

/** The host-side bridge interface of one rental's network, e.g. gr1a2b3c4d5e6f7. */
export function rentalBridgeName(nodeId: string, rentalId: string): string {
  return `${nodeBridgePrefix(nodeId)}${hex(rentalId).slice(0, RENTAL_TAG_LEN)}`;
}

export function rentalNetworkName(rentalId: string): string {
  return `gpunode-rental-${rentalId}`;
}

/** Labels of a rental's network: like its container's, so a restarted daemon finds both. */
export function rentalNetworkLabels(nodeId: string, rentalId: string): Record<string, string> {
  return { [LABELS.kind]: RENTAL_NETWORK_KIND, [LABELS.nodeId]: nodeId, [LABELS.rentalId]: rentalId };
}

/** listNetworks() filter for all of one node's rental networks. */
export function rentalNetworkFilter(nodeId: string): Record<string, string> {
  return { [LABELS.kind]: RENTAL_NETWORK_KIND, [LABELS.nodeId]: nodeId };
}

/** The node's chains: one hooked from FORWARD (and DOCKER-USER), one from INPUT, and the refusal both jump to. */
export function firewallChains(nodeId: string): { forward: string; input: string; reject: string } {
  const tag = nodeTag(nodeId);
  return { forward: `GPUNODE-${tag}-FWD`, input: `GPUNODE-${tag}-IN`, reject: `GPUNODE-${tag}-REJ` };
}
