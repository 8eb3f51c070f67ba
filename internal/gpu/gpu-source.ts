/** What the daemon knows about one GPU at one moment; the source behind it is not its business. */
export interface GpuSample {
  index: number;
  uuid: string;
  name: string;
  pciBusId: string;
  healthy: boolean;
  /** The driver's error text when this GPU could not be read. */
  error?: string;
  memoryTotalBytes: number;
  memoryUsedBytes: number;
  memoryFreeBytes: number;
  utilizationGpuPercent: number;
  utilizationMemoryPercent: number;
  temperatureCelsius: number;
  powerDrawMilliwatts: number;
  powerLimitMilliwatts: number;
}

/** What is still known of a GPU that could not be read. */
export type GpuFacts = Pick<GpuSample, "index" | "uuid" | "name" | "pciBusId"> & Partial<Pick<GpuSample, "memoryTotalBytes" | "powerLimitMilliwatts">>;

/**
 * A GPU reported unhealthy with `error`. Live numbers are zeroed, not repeated: stale utilisation
 * would read as a working GPU.
 */
export function unhealthyGpu(facts: GpuFacts, error: string): GpuSample {
  return {
    index: facts.index,
    uuid: facts.uuid,
    name: facts.name,
    pciBusId: facts.pciBusId,
    healthy: false,
    error,
    memoryTotalBytes: facts.memoryTotalBytes ?? 0,
    memoryUsedBytes: 0,
    memoryFreeBytes: 0,
    utilizationGpuPercent: 0,
    utilizationMemoryPercent: 0,
    temperatureCelsius: 0,
    powerDrawMilliwatts: 0,
    powerLimitMilliwatts: facts.powerLimitMilliwatts ?? 0,
  };
}

export interface GpuSnapshot {
  gpus: GpuSample[];
  driverVersion: string;
  cudaDriverVersion: string;
}

export interface GpuSource {
  /** A short name for logs: "nvml", "nvidia-smi", "none". */
  readonly kind: string;
  sample(signal?: AbortSignal): Promise<GpuSnapshot>;
  close(): Promise<void>;
}

/** A CPU-only node: registers and heartbeats with no GPUs. */
export class NoGpuSource implements GpuSource {
  readonly kind = "none";

  async sample(): Promise<GpuSnapshot> {
    return { gpus: [], driverVersion: "", cudaDriverVersion: "" };
  }

  async close(): Promise<void> {}
}
