import type { MinerStatus } from "../proto/gen/gpunode/v1/gpunode.js";

/** What rentals need from idle mining: get off these GPUs now, and come back to them later. */
export interface MiningControl {
  /** Stops the miners on these GPUs (short stop timeout) and keeps them off until resume(). */
  pause(indices: number[], signal?: AbortSignal): Promise<void>;
  /** Lets miners run again on these GPUs (if they are free and mining is on); resolves once they were started. */
  resume(indices: number[], signal?: AbortSignal): Promise<void>;
  /** One entry per GPU mining knows about. */
  status(): MinerStatus[];
}

/** Mining switched off (-enable-mining=false, or no Docker engine). */
export const NO_MINING: MiningControl = {
  pause: async () => {},
  resume: async () => {},
  status: () => [],
};
