import type { GpuSnapshot } from "../gpu/gpu-source.js";

/**
 * What to report when the GPU source could not be read at all: the inventory last read (none
 * before the first read), every GPU unhealthy with `error`. Live numbers are zeroed, not repeated:
 * stale utilisation would read as a working GPU.
 */
export function allUnhealthy(last: GpuSnapshot | undefined, error: string): GpuSnapshot {
  return {
    driverVersion: last?.driverVersion ?? "",
    cudaDriverVersion: last?.cudaDriverVersion ?? "",
    gpus: (last?.gpus ?? []).map((g) => ({
      index: g.index,
      uuid: g.uuid,
      name: g.name,
      pciBusId: g.pciBusId,
      healthy: false,
      error,
      memoryTotalBytes: g.memoryTotalBytes,
      memoryUsedBytes: 0,
      memoryFreeBytes: 0,
      utilizationGpuPercent: 0,
      utilizationMemoryPercent: 0,
      temperatureCelsius: 0,
      powerDrawMilliwatts: 0,
      powerLimitMilliwatts: g.powerLimitMilliwatts,
    })),
  };
}
