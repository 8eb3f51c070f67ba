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
