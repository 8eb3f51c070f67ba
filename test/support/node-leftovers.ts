import type { ContainerEngine } from "../../internal/container/engine.js";
import { LABELS } from "../../internal/container/labels.js";
import { removeNodeFirewall } from "../../internal/network/firewall.js";

/**
 * Everything a node's daemon leaves on the machine after it is killed: its containers, its
 * rentals' networks and its firewall chains (rentals outlive the daemon on purpose, and so do
 * their rules). Containers first: a network with a container on it cannot go. Every step is tried
 * even when one before it failed (an engine that is restarting), and the first failure is thrown.
 */
export async function removeNodeLeftovers(engine: ContainerEngine, nodeId: string | undefined): Promise<void> {
  if (!nodeId) return;
  const labels = { [LABELS.nodeId]: nodeId };
  const failures: unknown[] = [];
  const attempt = async (step: () => Promise<unknown>): Promise<void> => {
    await step().catch((err: unknown) => void failures.push(err));
  };
  await attempt(async () => Promise.all((await engine.list({ labels })).map((c) => engine.remove(c.id, { force: true }))));
  await attempt(async () => Promise.all((await engine.listNetworks({ labels })).map((n) => engine.removeNetwork(n.id))));
  await attempt(() => removeNodeFirewall(nodeId));
  if (failures.length > 0) throw failures[0];
}
