import { LABEL_PREFIX } from "../container/labels.js";

/**
 * What a restarted daemon needs to take a rental over, kept on the container itself. Only public
 * facts: the SSH password hash is never here (labels show in `docker inspect`), see rental-secrets.ts.
 */
export const RENTAL_LABELS = {
  sshPort: `${LABEL_PREFIX}ssh-port`,
  sshUser: `${LABEL_PREFIX}ssh-user`,
  /** base64 of the JSON array of authorized public key lines. */
  sshKeys: `${LABEL_PREFIX}ssh-keys`,
  startedAt: `${LABEL_PREFIX}started-at`,
  maxDurationSeconds: `${LABEL_PREFIX}max-duration-seconds`,
  /** "1" for a batch job: its exit is the rental's end. */
  batch: `${LABEL_PREFIX}batch`,
  /** "1" when SSH sessions run as root rather than as the image's user. */
  runAsRoot: `${LABEL_PREFIX}run-as-root`,
} as const;

export interface RentalFacts {
  sshPort: number;
  sshUser: string;
  sshKeys: string[];
  startedAt: Date;
  maxDurationSeconds: number;
  batch: boolean;
  runAsRoot: boolean;
}

export function rentalFactLabels(f: RentalFacts): Record<string, string> {
  return {
    [RENTAL_LABELS.sshPort]: String(f.sshPort),
    [RENTAL_LABELS.sshUser]: f.sshUser,
    [RENTAL_LABELS.sshKeys]: Buffer.from(JSON.stringify(f.sshKeys)).toString("base64"),
    [RENTAL_LABELS.startedAt]: f.startedAt.toISOString(),
    [RENTAL_LABELS.maxDurationSeconds]: String(f.maxDurationSeconds),
    [RENTAL_LABELS.batch]: f.batch ? "1" : "0",
    [RENTAL_LABELS.runAsRoot]: f.runAsRoot ? "1" : "0",
  };
}

/** Undefined when the labels are missing or unreadable: such a container is not adopted blindly. */
export function parseRentalFacts(labels: Record<string, string>): RentalFacts | undefined {
  try {
    const sshKeys = JSON.parse(Buffer.from(labels[RENTAL_LABELS.sshKeys] ?? "", "base64").toString("utf8")) as unknown;
    const sshPort = Number(labels[RENTAL_LABELS.sshPort]);
    const startedAt = new Date(labels[RENTAL_LABELS.startedAt] ?? "");
    const maxDurationSeconds = Number(labels[RENTAL_LABELS.maxDurationSeconds] ?? "0");
    const sshUser = labels[RENTAL_LABELS.sshUser] ?? "";
    if (!Array.isArray(sshKeys) || !sshKeys.every((k) => typeof k === "string")) return undefined;
    if (!Number.isInteger(sshPort) || Number.isNaN(startedAt.getTime()) || !Number.isFinite(maxDurationSeconds) || !sshUser) return undefined;
    return { sshPort, sshUser, sshKeys: sshKeys as string[], startedAt, maxDurationSeconds, batch: labels[RENTAL_LABELS.batch] === "1", runAsRoot: labels[RENTAL_LABELS.runAsRoot] === "1" };
  } catch {
    return undefined;
  }
}
