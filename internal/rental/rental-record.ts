import { type RentalInfo, RentalState, type SshEndpoint } from "../proto/gen/gpunode/v1/gpunode.js";

/** One rental as this daemon knows it; the container's labels are the durable copy. */
export interface RentalRecord {
  id: string;
  image: string;
  state: RentalState;
  gpuIndices: number[];
  gpuUuids: string[];
  /** The container's name until it was created (docker exec accepts either), then its id. */
  containerId: string;
  ssh?: SshEndpoint;
  batch: boolean;
  exitCode: number;
  oomKilled: boolean;
  reason: string;
  startedAt?: Date;
  endedAt?: Date;
  adopted: boolean;
  /** A stop is under way: the container's exit is expected, not news. */
  stopping: boolean;
  /** The container died before start() had finished. */
  diedWhileStarting: boolean;
  starting?: Promise<RentalInfo>;
  /** The stop under way, which a second stop answers with. */
  stopped?: Promise<RentalInfo>;
  /** Aborts the start under way (a stop while the image pulls); its reason is why. */
  cancelStart?: AbortController;
  durationTimer?: NodeJS.Timeout;
  /** When the duration limit is reached (epoch ms); undefined without one. */
  limitAt?: number;
}

export function rentalInfo(r: RentalRecord): RentalInfo {
  return {
    rentalId: r.id,
    state: r.state,
    image: r.image,
    gpuIndices: r.gpuIndices,
    gpuUuids: r.gpuUuids,
    containerId: r.containerId,
    ssh: r.ssh,
    exitCode: r.exitCode,
    oomKilled: r.oomKilled,
    reason: r.reason,
    startedAt: r.startedAt?.toISOString() ?? "",
    endedAt: r.endedAt?.toISOString() ?? "",
    adopted: r.adopted,
  };
}

export function isLive(r: RentalRecord): boolean {
  return r.state === RentalState.RENTAL_STATE_STARTING || r.state === RentalState.RENTAL_STATE_RUNNING;
}

export function sshEndpoint(host: string, port: number, user: string, pin: { fingerprint: string; publicKey: string }): SshEndpoint {
  const target = host.includes(":") ? `[${host}]` : host;
  return { host, port, user, command: `ssh -p ${port} ${user}@${target}`, hostKeyFingerprint: pin.fingerprint, hostPublicKey: pin.publicKey };
}
