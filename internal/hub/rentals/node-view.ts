import { createHash } from "node:crypto";
import { type CommandResult, type RentalInfo, RentalState } from "../../proto/gen/gpunode/v1/gpunode.js";
import { NodeDisconnectedError } from "../channel/node-session.js";
import type { HubRental, RentalStatus } from "../store/rental-store.js";
import { limitOf } from "./rental-limit.js";

// What nodes say about rentals, as changes to the hub's record; the book writes one only when it changes something.

export type RentalPatch = Partial<Omit<HubRental, "id" | "renter" | "nodeId" | "request" | "createdAt">> & { status: RentalStatus };

/**
 * What the node says about a rental, as a change to the hub's record; undefined when it says nothing
 * usable. The node's clock is not trusted: a start is no earlier than the hub made the rental and an
 * end no earlier than its start, and neither is later than now, when the hub hears of it.
 */
export function nodeViewPatch(current: HubRental, info: RentalInfo, now = new Date()): RentalPatch | undefined {
  const ssh = info.ssh
    ? {
        host: info.ssh.host,
        port: info.ssh.port,
        user: info.ssh.user,
        command: info.ssh.command,
        hostKeyFingerprint: info.ssh.hostKeyFingerprint,
        // Kept only when it is the key the fingerprint names: what renters pin must be self-consistent.
        ...(keyMatches(info.ssh.hostPublicKey, info.ssh.hostKeyFingerprint) ? { hostPublicKey: info.ssh.hostPublicKey } : {}),
      }
    : current.ssh;
  const startedAt = current.startedAt ?? clamp(info.startedAt ? new Date(info.startedAt) : now, current.createdAt, now);
  const endedAt = clamp(info.endedAt ? new Date(info.endedAt) : now, startedAt, now);
  switch (info.state) {
    case RentalState.RENTAL_STATE_RUNNING: {
      const expiresAt = limitOf(startedAt, current.request.maxDurationSeconds, current.paidSeconds);
      // Running now is the proof that it ran while the node was away: billing goes on through it.
      return { status: "running", gpuIndices: info.gpuIndices, ssh, startedAt, expiresAt, reason: info.reason, offlineSince: null };
    }
    case RentalState.RENTAL_STATE_STARTING:
      // Not billed yet (no startedAt), and never back from running to starting.
      return current.status === "running" ? undefined : { status: "starting", gpuIndices: info.gpuIndices, ssh, reason: info.reason, offlineSince: null };
    case RentalState.RENTAL_STATE_EXITED:
      return { status: "exited", exitCode: info.exitCode, reason: info.reason, startedAt, endedAt, offlineSince: null };
    case RentalState.RENTAL_STATE_STOPPED: {
      // Stopped before it ever ran (a stop during the image pull): never billed.
      const ran = current.startedAt !== null || info.startedAt !== "";
      return { status: "stopped", reason: info.reason, startedAt: ran ? startedAt : null, endedAt: ran ? endedAt : now, offlineSince: null };
    }
    case RentalState.RENTAL_STATE_FAILED:
      return { status: "failed", reason: info.reason, endedAt: now, offlineSince: null };
    default:
      return undefined;
  }
}

function clamp(d: Date, earliest: Date, latest: Date): Date {
  const t = Math.min(Math.max(d.getTime(), earliest.getTime()), latest.getTime());
  return new Date(Number.isNaN(t) ? latest.getTime() : t);
}

/** A known_hosts key field ("type base64") whose SHA-256 is the fingerprint OpenSSH prints. */
export function keyMatches(publicKey: string, fingerprint: string): boolean {
  const m = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)) ([A-Za-z0-9+/]+={0,2})$/.exec(publicKey);
  if (!m?.[2]) return false;
  return `SHA256:${createHash("sha256").update(Buffer.from(m[2], "base64")).digest("base64").replace(/=+$/, "")}` === fingerprint;
}

/** True when applying the patch would change the record. */
export function changes(current: HubRental, patch: RentalPatch): boolean {
  return Object.entries(patch).some(([key, value]) => !same(current[key as keyof HubRental], value));
}

function same(a: unknown, b: unknown): boolean {
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The node answered the start with an error (or with something else). */
export function answerFailed(res: CommandResult): RentalPatch {
  const e = res.outcome?.$case === "error" ? res.outcome.value : { code: "bad_answer", message: "unexpected answer" };
  return { status: "failed", reason: `${e.code}: ${e.message}`, endedAt: new Date() };
}

/** A node that went away mid-start may still start it: its next report settles the rental, not this. */
export function startFailed(err: unknown): RentalPatch {
  if (err instanceof NodeDisconnectedError) return { status: "node_offline", reason: "the node disconnected before it confirmed the start; its next report settles it" };
  return { status: "failed", reason: `the node did not start it: ${(err as Error).message}`, endedAt: new Date() };
}

/**
 * A rental the node's report leaves out: it ended there, and the node no longer knows how. One that
 * ended while the node was away is billed until the node was last seen, not until it came back.
 */
export function missingPatch(r: HubRental, now = new Date()): RentalPatch {
  const endedAt = r.status === "node_offline" && r.offlineSince ? r.offlineSince : now;
  if (!r.startedAt) return { status: "failed", reason: r.status === "node_offline" ? "the node restarted before the rental started" : "the node no longer has it; it never started", endedAt, offlineSince: null };
  const end = endedAt < r.startedAt ? r.startedAt : endedAt;
  return {
    status: "exited",
    reason: r.status === "node_offline" ? "it ended while the node was away; the node no longer has it (exit code unknown): billed until the node was last seen" : "the node no longer runs it (exit code unknown)",
    endedAt: end,
    offlineSince: null,
  };
}
