import { CommandFailure } from "../channel/command-dispatcher.js";
import type { StartRental } from "../proto/gen/gpunode/v1/gpunode.js";
import { isPasswordHash } from "../ssh/password-hash.js";
import { parseAuthorizedKeys } from "../ssh/ssh-access.js";

const GIB = 1024 ** 3;

/** What a rental gets when the command leaves a limit at 0. */
export interface RentalDefaults {
  /** CPU limit when the command gives none: the whole machine, in 1e-9 CPUs. */
  nanoCpus: number;
  memoryBytesPerGpu: number;
  /** Memory for a rental without GPUs. */
  memoryBytes: number;
  shmBytes: number;
  pidsLimit: number;
  /** The most memory a rental may ask for (the machine's, less a reserve for the host). */
  maxMemoryBytes: number;
}

export const defaultRentalDefaults = (hostMemoryBytes: number, hostCpus: number): RentalDefaults => ({
  nanoCpus: hostCpus * 1_000_000_000,
  memoryBytesPerGpu: 16 * GIB,
  memoryBytes: 4 * GIB,
  shmBytes: 2 * GIB,
  pidsLimit: 4096,
  maxMemoryBytes: Math.max(GIB, Math.floor(hostMemoryBytes * 0.9)),
});

export interface RentalLimits {
  nanoCpus: number;
  memoryBytes: number;
  shmBytes: number;
  pidsLimit: number;
}

const RENTAL_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
// Docker's reference grammar, loosely: lowercase path components, optional registry:port, tag or digest.
const IMAGE_REF = /^[a-z0-9]+(?:[._:/-][a-zA-Z0-9]+)*(?::[A-Za-z0-9_.-]{1,128})?(?:@sha256:[a-f0-9]{64})?$/;

/** Refuses a start command that could not run as asked, before anything changes. */
export function checkStartRental(cmd: StartRental): void {
  const bad = (why: string): never => {
    throw new CommandFailure("invalid_argument", why);
  };
  if (!RENTAL_ID.test(cmd.rentalId)) bad(`rental id ${JSON.stringify(cmd.rentalId.slice(0, 80))} is invalid: 1-64 of A-Z a-z 0-9 _ . - starting with a letter or digit`);
  if (!IMAGE_REF.test(cmd.image) || cmd.image.length > 255) bad(`image ${JSON.stringify(cmd.image.slice(0, 80))} is not an image reference (e.g. nvidia/cuda:12.6.0-base-ubuntu22.04)`);
  const gpus = cmd.gpus ?? { count: 0, ids: [] };
  if (gpus.count > 64 || gpus.ids.length > 64) bad("gpus: at most 64");
  if (cmd.sshPasswordHash && !isPasswordHash(cmd.sshPasswordHash)) bad("ssh_password_hash is not a scrypt hash (the password itself is never sent)");
  if (cmd.sshPublicKeys.length === 0 && !cmd.sshPasswordHash && cmd.command.length === 0) bad("an interactive rental needs at least one SSH public key (or a password hash)");
  try {
    parseAuthorizedKeys(cmd.sshPublicKeys);
  } catch (err) {
    bad(`ssh_public_keys: ${(err as Error).message}`);
  }
  for (const e of cmd.env) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(e.name)) bad(`env: ${JSON.stringify(e.name.slice(0, 40))} is not a variable name`);
    if (e.name === "NVIDIA_VISIBLE_DEVICES") bad("env: NVIDIA_VISIBLE_DEVICES is set by the node from the rental's GPUs");
  }
  if (cmd.command.some((arg) => arg.includes("\0"))) bad("command: an argument holds a NUL byte");
}

/** Limits with defaults filled in; refuses asks beyond what this machine has. */
export function rentalLimits(cmd: StartRental, gpuCount: number, d: RentalDefaults): RentalLimits {
  const memoryBytes = cmd.memoryBytes || Math.min(d.maxMemoryBytes, gpuCount > 0 ? gpuCount * d.memoryBytesPerGpu : d.memoryBytes);
  if (memoryBytes > d.maxMemoryBytes) throw new CommandFailure("invalid_argument", `memory: ${memoryBytes} bytes asked, this node allows at most ${d.maxMemoryBytes}`);
  if (memoryBytes < 16 * 1024 * 1024) throw new CommandFailure("invalid_argument", "memory: at least 16 MiB");
  return {
    nanoCpus: cmd.cpuMillis > 0 ? cmd.cpuMillis * 1_000_000 : d.nanoCpus,
    memoryBytes,
    shmBytes: Math.min(cmd.shmBytes || d.shmBytes, memoryBytes),
    pidsLimit: cmd.pidsLimit || d.pidsLimit,
  };
}
