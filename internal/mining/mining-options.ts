import type { BackoffOptions } from "../util/backoff.js";

/** Host resources one miner container may use (the GPU itself comes through its device request). */
export interface MinerResources {
  /** CPU quota in units of 1e-9 CPUs. */
  nanoCpus: number;
  /** Hard memory limit, no swap on top. */
  memoryBytes: number;
  pidsLimit: number;
  /** /dev/shm size; the engine's 64 MiB when absent. */
  shmBytes?: number;
}

export interface MiningOptions {
  enabled: boolean;
  /** -mining-image. Never pulled here: an absent image is reported (status BACKOFF), not fetched. */
  image: string;
  /**
   * -mining-data-dir on the host. Each miner gets `<dataDir>/gpu-<index>` (created when missing) at
   * /data, writable (miners keep their DAG and state there), and nothing else of the host. Empty: no mount.
   */
  dataDir: string;
  /** Extra miner arguments, passed as the container command (after the image's entrypoint). */
  args: string[];
  /** Passed to the miner as given; names may be logged, values never are. */
  env: { name: string; value: string }[];
  /** Goes into the labels, so a restarted daemon finds its own miners. */
  nodeId: string;
  /** Seconds a miner gets between SIGTERM and SIGKILL on pause: a rental waits for this. */
  stopTimeoutSec: number;
  /** Delay before restarting a crashed miner (or retrying one that would not start), per GPU. */
  backoff: BackoffOptions;
  /** Reset a GPU's backoff after a miner ran this long without crashing. */
  stableAfterMs: number;
  /** Replaces the image's ENTRYPOINT when given (tests run a shell loop as the "miner"). */
  entrypoint?: string[];
  /** DEFAULT_MINER_RESOURCES when absent. */
  resources?: MinerResources;
}

export const DEFAULT_MINER_RESOURCES: MinerResources = {
  nanoCpus: 2_000_000_000,
  memoryBytes: 4 * 1024 ** 3,
  pidsLimit: 512,
  shmBytes: 256 * 1024 ** 2,
};

/** Everything but what the daemon knows per node (enabled, image, dataDir, nodeId come from its flags). */
export const defaultMiningOptions = {
  args: [],
  env: [],
  stopTimeoutSec: 5,
  backoff: { initialMs: 2_000, maxMs: 5 * 60_000, factor: 2 },
  stableAfterMs: 10 * 60_000,
} satisfies Partial<MiningOptions>;
