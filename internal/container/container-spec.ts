/**
 * What a workload container should look like, in our terms. toCreateOptions() turns it into the
 * engine's create body and adds the hardening every workload gets; nothing here can loosen it.
 */
export interface ContainerSpec {
  name: string;
  image: string;
  labels: Record<string, string>;
  /** GPU indexes ("0") or UUIDs ("GPU-…"); empty for no GPU. */
  gpuDeviceIds: string[];
  /** CPU quota in units of 1e-9 CPUs (2 CPUs = 2_000_000_000). */
  nanoCpus: number;
  /** Hard memory limit; swap is never granted on top of it. */
  memoryBytes: number;
  /** Size of /dev/shm; the engine's default (64 MiB) when absent, too small for most ML loaders. */
  shmBytes?: number;
  pidsLimit: number;
  /** Passed as given: never put secrets here, they show in `docker inspect`. */
  env?: Record<string, string>;
  /** Replaces the image's CMD when given. */
  cmd?: string[];
  /** Replaces the image's ENTRYPOINT when given. */
  entrypoint?: string[];
  workingDir?: string;
  user?: string;
  publishPorts?: PortPublish[];
  mounts?: ContainerMount[];
  /** "no" when absent: the daemon supervises workloads itself. */
  restart?: RestartPolicy;
  /** "bridge" when absent; "none" for no network; or a network's name. */
  networkMode?: string;
  /**
   * Size limit of the container's writable layer. Only some storage drivers enforce it (overlay2
   * on xfs with pquota); createAndStart() refuses with "storage_unsupported" where it is not.
   */
  storageSizeBytes?: number;
}

export interface PortPublish {
  containerPort: number;
  protocol: "tcp" | "udp";
  /** An ephemeral port when absent; inspect() tells which. */
  hostPort?: number;
  /** All interfaces when absent. */
  hostIp?: string;
}

/**
 * Only three kinds exist on purpose: a named volume (a rental's persistent disk), a read-only bind
 * of a host directory we provide (helper binaries), and a writable bind of a folder the daemon made
 * for one workload's own data (a miner's cache). Any other host mount is not expressible.
 */
export type ContainerMount = VolumeMount | HelperBindMount | DataBindMount;

export interface VolumeMount {
  type: "volume";
  /** Created by the engine on first use. */
  name: string;
  target: string;
  readOnly?: boolean;
}

export interface HelperBindMount {
  type: "bind";
  /** Absolute host path; it must exist (the engine refuses, rather than creating it). */
  source: string;
  target: string;
  readOnly: true;
}

export interface DataBindMount {
  type: "data";
  /** Absolute host path of a folder the daemon created for this workload; never a system folder. */
  source: string;
  target: string;
}

export type RestartPolicy =
  | { name: "no" | "always" | "unless-stopped" }
  | { name: "on-failure"; maximumRetryCount: number };
