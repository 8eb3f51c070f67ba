import { GpuActivity } from "../proto/gen/gpunode/v1/gpunode.js";

export interface GpuAssignment {
  activity: GpuActivity;
  rentalId?: string;
}

/** Who is using which GPU. Until rentals and mining run, every healthy GPU is free. */
export interface GpuActivitySource {
  assignmentOf(gpuIndex: number): GpuAssignment;
}

export const ALL_GPUS_FREE: GpuActivitySource = {
  assignmentOf: () => ({ activity: GpuActivity.GPU_ACTIVITY_FREE }),
};
