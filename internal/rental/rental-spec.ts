import type { ContainerSpec } from "../container/container-spec.js";
import { workloadLabels } from "../container/labels.js";
import type { StartRental } from "../proto/gen/gpunode/v1/gpunode.js";
import { rentalFactLabels, type RentalFacts } from "./rental-labels.js";
import type { RentalLimits } from "./rental-request.js";

/**
 * Keeps an interactive rental's container alive with nothing but /bin/sh (any image has it), and
 * exits at once on SIGTERM instead of waiting out the stop timeout.
 */
export const KEEPALIVE_SCRIPT = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done";

export interface RentalSpecInput {
  cmd: StartRental;
  nodeId: string;
  gpuIndices: number[];
  limits: RentalLimits;
  facts: RentalFacts;
  /** Host folder with the sftp-server bundle, mounted read-only. */
  helper?: { source: string; target: string };
  /** The rental's own network (see internal/network); the engine's default bridge when absent. */
  network?: string;
  /** Limit of the writable layer, where the storage driver enforces one. */
  storageSizeBytes?: number;
}

export function rentalContainerName(rentalId: string): string {
  return `gpunode-rental-${rentalId}`;
}

/** The rental's container, as a pure function of the command: what the table test checks. */
export function rentalContainerSpec(input: RentalSpecInput): ContainerSpec {
  const { cmd, facts } = input;
  const gpuDeviceIds = input.gpuIndices.map(String);
  const batch = cmd.command.length > 0;
  return {
    name: rentalContainerName(cmd.rentalId),
    image: cmd.image,
    labels: { ...workloadLabels({ kind: "rental", rentalId: cmd.rentalId, nodeId: input.nodeId, gpuIds: gpuDeviceIds }), ...rentalFactLabels(facts) },
    gpuDeviceIds,
    nanoCpus: input.limits.nanoCpus,
    memoryBytes: input.limits.memoryBytes,
    shmBytes: input.limits.shmBytes,
    pidsLimit: input.limits.pidsLimit,
    env: Object.fromEntries(cmd.env.map((e) => [e.name, e.value])),
    // A batch job runs the image's entrypoint with its command, like `docker run IMAGE CMD`;
    // an interactive rental only has to stay up for SSH.
    ...(batch ? { cmd: cmd.command } : { entrypoint: ["/bin/sh", "-c", KEEPALIVE_SCRIPT], cmd: [] }),
    mounts: input.helper ? [{ type: "bind", source: input.helper.source, target: input.helper.target, readOnly: true }] : [],
    // Comes back after a dockerd or host restart; a finished batch job must not run again.
    restart: batch ? { name: "no" } : { name: "unless-stopped" },
    ...(input.network ? { networkMode: input.network } : {}),
    ...(input.storageSizeBytes ? { storageSizeBytes: input.storageSizeBytes } : {}),
  };
}
