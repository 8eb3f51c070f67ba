import { type GpuSnapshot, unhealthyGpu } from "../gpu/gpu-source.js";

/** What to report when the GPU source could not be read at all: the inventory last read (none before the first read), every GPU unhealthy with `error`. */
export function allUnhealthy(last: GpuSnapshot | undefined, error: string): GpuSnapshot {
  return {
    driverVersion: last?.driverVersion ?? "",
    cudaDriverVersion: last?.cudaDriverVersion ?? "",
    gpus: (last?.gpus ?? []).map((g) => unhealthyGpu(g, error)),
  };
}
