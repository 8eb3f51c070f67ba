import { Counter, type Registry } from "prom-client";
import type { HostPort } from "../grpc/host-port.js";
import { collectedGauge } from "./collected-gauge.js";
import { type MetricsServer, startMetricsServer } from "./metrics-server.js";

/**
 * rental-hub's metrics: names end in their unit. Components take `HubMetrics | null` (null when
 * -metrics-listen is empty); the gauges are read at scrape time (see serveHubMetrics).
 */
export function createHubMetrics(register: Registry) {
  const registers = [register];
  return {
    register,
    nodesConnected: collectedGauge({ name: "rental_hub_nodes_connected", help: "Nodes with an open stream", registers }),
    nodesOnline: collectedGauge({ name: "rental_hub_nodes_online", help: "Nodes counted online (heartbeating)", registers }),
    nodesDraining: collectedGauge({ name: "rental_hub_nodes_draining", help: "Connected nodes that take no new rentals", registers }),
    heartbeatsReceived: new Counter({ name: "rental_hub_heartbeats_received_total", help: "Heartbeats received from nodes", registers }),
    commandsSent: new Counter({
      name: "rental_hub_commands_sent_total",
      help: "Commands sent to nodes, by type and outcome (ok, the node's error code, timeout, disconnected)",
      labelNames: ["type", "outcome"] as const,
      registers,
    }),
    rentals: collectedGauge({ name: "rental_hub_rentals", help: "Rentals in the hub's book, by status", labelNames: ["status"] as const, registers }),
    foreignReportsRefused: new Counter({
      name: "rental_hub_foreign_rental_reports_refused_total",
      help: "Reports (events, heartbeats) in which a node spoke about a rental placed on another node; refused",
      registers,
    }),
    chainConnected: collectedGauge({ name: "rental_hub_chain_connected", help: "1 while the chain RPC answers, 0 while the hub retries it", registers }),
    chainHeadBlock: collectedGauge({ name: "rental_hub_chain_head_block", help: "The chain's newest block, as last read", registers }),
    chainProcessedBlock: collectedGauge({ name: "rental_hub_chain_processed_block", help: "The newest block whose escrow logs the hub has acted on", registers }),
    chainLagBlocks: collectedGauge({ name: "rental_hub_chain_lag_blocks", help: "Blocks between the chain's head and what the hub has acted on (confirmations included)", registers }),
    chainDeepReorgs: collectedGauge({ name: "rental_hub_chain_deep_reorgs", help: "Reorganisations seen deeper than -chain-confirmations since the hub started", registers }),
    signIns: new Counter({ name: "rental_hub_sign_ins_total", help: "Wallet sign-ins (SIWE), by outcome (ok, or the refusal code)", labelNames: ["outcome"] as const, registers }),
  };
}

export type HubMetrics = ReturnType<typeof createHubMetrics>;

/** What the hub's gauges read at scrape time. */
export interface HubMetricSources {
  channel: { connectedCount(): number; drainingCount(): number };
  presence: { onlineCount(): number };
  rentals: { countByStatus(): Promise<Record<string, number>> };
  /** The escrow listener's state, when the hub takes payments. */
  chain?: () => { connected: boolean; headBlock: number | null; processedBlock: number | null; lagBlocks: number | null; deepReorgs: number };
}

/** Wires the gauges to their sources and serves /metrics. */
export function serveHubMetrics(listen: HostPort, m: HubMetrics, sources: HubMetricSources): Promise<MetricsServer> {
  m.nodesConnected.addCollect((g) => g.set(sources.channel.connectedCount()));
  m.nodesOnline.addCollect((g) => g.set(sources.presence.onlineCount()));
  m.nodesDraining.addCollect((g) => g.set(sources.channel.drainingCount()));
  m.rentals.addCollect(async (g) => {
    const counts = await sources.rentals.countByStatus();
    g.reset();
    for (const [status, n] of Object.entries(counts)) g.set({ status }, n);
  });
  const chain = sources.chain;
  if (chain) {
    m.chainConnected.addCollect((g) => g.set(chain().connected ? 1 : 0));
    m.chainHeadBlock.addCollect((g) => g.set(chain().headBlock ?? 0));
    m.chainProcessedBlock.addCollect((g) => g.set(chain().processedBlock ?? 0));
    m.chainLagBlocks.addCollect((g) => g.set(chain().lagBlocks ?? 0));
    m.chainDeepReorgs.addCollect((g) => g.set(chain().deepReorgs));
  }
  return startMetricsServer(listen, m.register);
}
