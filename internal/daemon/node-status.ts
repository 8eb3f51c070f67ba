import { arch, release, type } from "node:os";
import type { GpuSample, GpuSnapshot, GpuSource } from "../gpu/gpu-source.js";
import { type GetStatusResponse, GpuActivity, type GpuInfo, type GpuStatus, type Heartbeat, type MinerStatus, type NodeInfo, type RentalInfo, type Versions } from "../proto/gen/gpunode/v1/gpunode.js";
import { type DaemonMetrics, recordGpuSamples } from "../metrics/daemon-metrics.js";
import { VERSION } from "../version.js";
import { allUnhealthy } from "./gpu-read-failure.js";
import type { GpuActivitySource } from "./gpu-activity.js";

export interface NodeStatusOptions {
  host: string;
  apiPort: number;
  pricePerSecWei: string;
  /** The hub's gRPC address, as configured. */
  hubAddress: string;
}

export interface NodeStatusDeps {
  gpus: GpuSource;
  activity: GpuActivitySource;
  notices: string[];
  dockerVersion(): string;
  /** The NVIDIA Container Toolkit's version, "" when it is not installed. */
  containerToolkitVersion(): string;
  rentals(): RentalInfo[];
  miners(): MinerStatus[];
  link(): { connected: boolean; heartbeatsSent: number; reconnects: number; lastHeartbeatAt?: Date };
  /** Undefined until the node is registered. */
  identity(): { nodeId: string; certificateNotAfter: string } | undefined;
  draining(): boolean;
  metrics: DaemonMetrics | null;
}

/** Everything the node says about itself: registration info, heartbeats and the status API share it. */
export class NodeStatus {
  private readonly startedAt = Date.now();
  private lastSnapshot: GpuSnapshot = { gpus: [], driverVersion: "", cudaDriverVersion: "" };
  /** The last snapshot the source answered: what a failed read reports, marked unhealthy. */
  private lastRead?: GpuSnapshot;
  /** Why the last read failed; undefined while reads succeed. */
  private readError?: string;

  constructor(
    private readonly opts: NodeStatusOptions,
    private readonly deps: NodeStatusDeps,
  ) {}

  /** The GPUs of the latest sample. */
  knownGpus(): { index: number; uuid: string; name: string; healthy: boolean }[] {
    return this.lastSnapshot.gpus.map((g) => ({ index: g.index, uuid: g.uuid, name: g.name, healthy: g.healthy }));
  }

  async info(signal?: AbortSignal): Promise<NodeInfo> {
    const snapshot = await this.sample(signal);
    return {
      host: this.opts.host,
      apiPort: this.opts.apiPort,
      pricePerSecWei: this.opts.pricePerSecWei,
      versions: this.versions(snapshot),
      gpus: snapshot.gpus.map(toGpuInfo),
      notices: this.readError ? [...this.deps.notices, `GPUs could not be read: ${this.readError}`] : this.deps.notices,
      draining: this.deps.draining(),
    };
  }

  async heartbeat(seq: number, signal?: AbortSignal): Promise<Heartbeat> {
    const snapshot = await this.sample(signal);
    return {
      seq,
      nodeId: this.deps.identity()?.nodeId ?? "",
      uptimeSeconds: this.uptimeSeconds(),
      versions: this.versions(snapshot),
      gpus: snapshot.gpus.map((g) => this.toGpuStatus(g)),
      sentAtUnixMs: Date.now(),
      rentals: this.deps.rentals(),
      miners: this.deps.miners(),
      draining: this.deps.draining(),
    };
  }

  async status(signal?: AbortSignal): Promise<GetStatusResponse> {
    const [info, snapshot] = [await this.info(signal), this.lastSnapshot];
    const id = this.deps.identity();
    const link = this.deps.link();
    return {
      nodeId: id?.nodeId ?? "",
      hubConnected: link.connected,
      uptimeSeconds: this.uptimeSeconds(),
      certificateNotAfter: id?.certificateNotAfter ?? "",
      info,
      gpus: snapshot.gpus.map((g) => this.toGpuStatus(g)),
      heartbeatsSent: link.heartbeatsSent,
      rentals: this.deps.rentals(),
      miners: this.deps.miners(),
      hubAddress: this.opts.hubAddress,
      hubReconnects: link.reconnects,
      lastHeartbeatAt: link.lastHeartbeatAt?.toISOString() ?? "",
    };
  }

  /**
   * A failed read (nvidia-smi timing out, NVML's device count erroring) still yields a snapshot: the
   * last known GPUs, all unhealthy with the error, so heartbeats and registration go on and the
   * hub does not mark a live node offline. Only a cancelled read throws.
   */
  private async sample(signal?: AbortSignal): Promise<GpuSnapshot> {
    try {
      this.lastSnapshot = this.lastRead = await this.deps.gpus.sample(signal);
      this.readError = undefined;
    } catch (err) {
      if (signal?.aborted) throw err;
      this.readError = err instanceof Error ? err.message : String(err);
      this.lastSnapshot = allUnhealthy(this.lastRead, this.readError);
    }
    if (this.deps.metrics) recordGpuSamples(this.deps.metrics, this.lastSnapshot.gpus);
    return this.lastSnapshot;
  }

  private uptimeSeconds(): number {
    return Math.floor((Date.now() - this.startedAt) / 1000);
  }

  private versions(snapshot: GpuSnapshot): Versions {
    return {
      daemon: VERSION,
      nodeRuntime: process.version,
      driver: snapshot.driverVersion,
      cudaDriver: snapshot.cudaDriverVersion,
      docker: this.deps.dockerVersion(),
      os: `${type()} ${release()} ${arch()}`,
      containerToolkit: this.deps.containerToolkitVersion(),
    };
  }

  private toGpuStatus(g: GpuSample): GpuStatus {
    const assignment = g.healthy ? this.deps.activity.assignmentOf(g.index) : { activity: GpuActivity.GPU_ACTIVITY_UNHEALTHY };
    return {
      index: g.index,
      uuid: g.uuid,
      name: g.name,
      activity: assignment.activity,
      rentalId: assignment.rentalId ?? "",
      healthy: g.healthy,
      error: g.error ?? "",
      utilizationGpuPercent: g.utilizationGpuPercent,
      utilizationMemoryPercent: g.utilizationMemoryPercent,
      memoryTotalBytes: g.memoryTotalBytes,
      memoryUsedBytes: g.memoryUsedBytes,
      memoryFreeBytes: g.memoryFreeBytes,
      temperatureCelsius: g.temperatureCelsius,
      powerDrawMilliwatts: g.powerDrawMilliwatts,
      powerLimitMilliwatts: g.powerLimitMilliwatts,
      pciBusId: g.pciBusId,
    };
  }
}

function toGpuInfo(g: GpuSample): GpuInfo {
  return { index: g.index, uuid: g.uuid, name: g.name, pciBusId: g.pciBusId, memoryTotalBytes: g.memoryTotalBytes };
}
