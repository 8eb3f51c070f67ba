import { type CommandResult, type RentalInfo, RentalState } from "../../proto/gen/gpunode/v1/gpunode.js";
import { NodeDisconnectedError } from "../channel/node-session.js";
import type { HubRental, RentalStatus } from "../store/rental-store.js";

// What nodes say about rentals, as changes to the hub's record; the book writes one only when it changes something.

export type RentalPatch = Partial<Omit<HubRental, "id" | "renter" | "nodeId" | "request" | "createdAt">> & { status: RentalStatus };

/** What the node says about a rental, as a change to the hub's record; undefined when it says nothing usable. */
export function nodeViewPatch(current: HubRental, info: RentalInfo): RentalPatch | undefined {
  const ssh = info.ssh ? { host: info.ssh.host, port: info.ssh.port, user: info.ssh.user, command: info.ssh.command, hostKeyFingerprint: info.ssh.hostKeyFingerprint } : current.ssh;
  const nodeStart = info.startedAt ? new Date(info.startedAt) : new Date();
  const endedAt = info.endedAt ? new Date(info.endedAt) : new Date();
  switch (info.state) {
    case RentalState.RENTAL_STATE_RUNNING: {
      const startedAt = current.startedAt ?? nodeStart;
      const limit = current.request.maxDurationSeconds;
      const expiresAt = limit > 0 ? new Date(startedAt.getTime() + limit * 1000) : null;
      return { status: "running", gpuIndices: info.gpuIndices, ssh, startedAt, expiresAt, reason: info.reason };
    }
    case RentalState.RENTAL_STATE_STARTING:
      // Not billed yet (no startedAt), and never back from running to starting.
      return current.status === "running" ? undefined : { status: "starting", gpuIndices: info.gpuIndices, ssh, reason: info.reason };
    case RentalState.RENTAL_STATE_EXITED:
      return { status: "exited", exitCode: info.exitCode, reason: info.reason, startedAt: current.startedAt ?? nodeStart, endedAt };
    case RentalState.RENTAL_STATE_STOPPED:
      return { status: "stopped", reason: info.reason, startedAt: current.startedAt ?? nodeStart, endedAt };
    case RentalState.RENTAL_STATE_FAILED:
      return { status: "failed", reason: info.reason, endedAt: new Date() };
    default:
      return undefined;
  }
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

/** A rental the node's report leaves out: it ended there, and the node no longer knows how. */
export function missingPatch(r: HubRental): RentalPatch {
  const endedAt = new Date();
  if (!r.startedAt) return { status: "failed", reason: r.status === "node_offline" ? "the node restarted before the rental started" : "the node no longer has it; it never started", endedAt };
  return { status: "exited", reason: r.status === "node_offline" ? "it ended while the node was away; the node no longer has it (exit code unknown)" : "the node no longer runs it (exit code unknown)", endedAt };
}
