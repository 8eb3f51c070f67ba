import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { GpuSample } from "../gpu/gpu-source.js";
import { MinerState, type MinerStatus, minerStateToJSON, type RentalInfo, RentalState, rentalStateToJSON } from "../proto/gen/gpunode/v1/gpunode.js";
import { collectedGauge } from "./collected-gauge.js";

/**
 * node-daemon's metrics: names end in their unit, time in seconds. Components take
 * `DaemonMetrics | null` (null when -metrics-listen is empty).
 */
export function createDaemonMetrics(register: Registry) {
  const registers = [register];
  const gpuGauge = (name: string, help: string) => new Gauge({ name: `node_daemon_gpu_${name}`, help, labelNames: ["gpu", "uuid"] as const, registers });
  return {
    heartbeatsSent: new Counter({ name: "node_daemon_heartbeats_sent_total", help: "Heartbeats sent to the hub", registers }),
    hubReconnects: new Counter({ name: "node_daemon_hub_reconnects_total", help: "Times the stream to the hub was lost or refused and opened again", registers }),
    hubConnected: collectedGauge({ name: "node_daemon_hub_connected", help: "1 while the stream to the hub is open", registers }),
    commands: new Counter({ name: "node_daemon_commands_total", help: "Hub commands answered, by type and outcome (ok, or the error code)", labelNames: ["type", "outcome"] as const, registers }),
    commandSeconds: new Histogram({
      name: "node_daemon_command_duration_seconds",
      help: "Time to answer a hub command, by type",
      labelNames: ["type"] as const,
      buckets: [0.005, 0.05, 0.25, 1, 5, 15, 60, 300, 900],
      registers,
    }),
    rentals: collectedGauge({ name: "node_daemon_rentals", help: "Rental containers on this node, by state", labelNames: ["state"] as const, registers }),
    miners: collectedGauge({ name: "node_daemon_miners", help: "Miner containers, by state", labelNames: ["state"] as const, registers }),
    draining: collectedGauge({ name: "node_daemon_draining", help: "1 while the node takes no new rentals", registers }),
    certificateExpiry: collectedGauge({ name: "node_daemon_certificate_expiry_timestamp_seconds", help: "When the node's client certificate expires (Unix time)", registers }),
    imagePullSeconds: new Histogram({
      name: "node_daemon_image_pull_seconds",
      help: "Image pulls for rentals, by outcome (ok, pull_stalled, image_unavailable)",
      labelNames: ["outcome"] as const,
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800],
      registers,
    }),
    gpu: {
      healthy: gpuGauge("healthy", "1 when the GPU could be read, 0 when the driver reported an error"),
      utilization: gpuGauge("utilization_ratio", "GPU busy time over the driver's last sample period, 0 to 1"),
      memoryUtilization: gpuGauge("memory_utilization_ratio", "GPU memory controller busy time, 0 to 1"),
      memoryUsed: gpuGauge("memory_used_bytes", "GPU memory in use"),
      memoryTotal: gpuGauge("memory_total_bytes", "GPU memory in all"),
      temperature: gpuGauge("temperature_celsius", "GPU core temperature"),
      powerDraw: gpuGauge("power_draw_watts", "GPU power draw"),
      powerLimit: gpuGauge("power_limit_watts", "GPU power limit"),
    },
  };
}

export type DaemonMetrics = ReturnType<typeof createDaemonMetrics>;

/** Sets the per-GPU gauges from one sample; GPUs that vanished lose their series. */
export function recordGpuSamples(m: DaemonMetrics, gpus: readonly GpuSample[]): void {
  for (const g of Object.values(m.gpu)) g.reset();
  for (const s of gpus) {
    const labels = { gpu: String(s.index), uuid: s.uuid };
    m.gpu.healthy.set(labels, s.healthy ? 1 : 0);
    if (!s.healthy) continue;
    m.gpu.utilization.set(labels, s.utilizationGpuPercent / 100);
    m.gpu.memoryUtilization.set(labels, s.utilizationMemoryPercent / 100);
    m.gpu.memoryUsed.set(labels, s.memoryUsedBytes);
    m.gpu.memoryTotal.set(labels, s.memoryTotalBytes);
    m.gpu.temperature.set(labels, s.temperatureCelsius);
    m.gpu.powerDraw.set(labels, s.powerDrawMilliwatts / 1000);
    m.gpu.powerLimit.set(labels, s.powerLimitMilliwatts / 1000);
  }
}

/** What the daemon's gauges read at scrape time. */
export interface DaemonGaugeSources {
  hubConnected(): boolean;
  draining(): boolean;
  certificateNotAfter(): Date | undefined;
  rentals(): RentalInfo[];
  miners(): MinerStatus[];
}

/** Wires the scrape-time gauges; every state gets a series, 0 included. */
export function readDaemonGauges(m: DaemonMetrics, sources: DaemonGaugeSources): void {
  m.hubConnected.addCollect((g) => g.set(sources.hubConnected() ? 1 : 0));
  m.draining.addCollect((g) => g.set(sources.draining() ? 1 : 0));
  m.certificateExpiry.addCollect((g) => {
    const notAfter = sources.certificateNotAfter();
    if (notAfter) g.set(Math.floor(notAfter.getTime() / 1000));
  });
  m.rentals.addCollect((g) => {
    g.reset();
    for (const s of enumValues(RentalState)) if (s !== RentalState.RENTAL_STATE_UNSPECIFIED) g.set({ state: stateLabel(rentalStateToJSON(s)) }, 0);
    for (const r of sources.rentals()) g.inc({ state: stateLabel(rentalStateToJSON(r.state)) });
  });
  m.miners.addCollect((g) => {
    g.reset();
    for (const s of enumValues(MinerState)) if (s !== MinerState.MINER_STATE_UNSPECIFIED) g.set({ state: stateLabel(minerStateToJSON(s)) }, 0);
    for (const x of sources.miners()) g.inc({ state: stateLabel(minerStateToJSON(x.state)) });
  });
}

const enumValues = <E extends number>(e: Record<string, string | E>): E[] => Object.values(e).filter((v): v is E => typeof v === "number");
/** RENTAL_STATE_RUNNING -> running. */
const stateLabel = (json: string): string => json.replace(/^(RENTAL|MINER)_STATE_/, "").toLowerCase();
