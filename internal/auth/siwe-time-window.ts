import { SiweRefusal } from "./refusal.js";

export interface SignInTimes {
  issuedAt: Date;
  expirationTime?: Date;
  notBefore?: Date;
}

export interface TimeWindow {
  maxAgeMs: number;
  clockSkewMs: number;
}

/** Parses the message's timestamps; the grammar has already checked their syntax. */
export function parseSignInTimes(fields: { issuedAt?: string; expirationTime?: string; notBefore?: string }): SignInTimes {
  const issuedAt = parseTime("Issued At", fields.issuedAt);
  if (!issuedAt) throw new SiweRefusal("malformed", "grammar check failed: the message has no Issued At");
  const expirationTime = parseTime("Expiration Time", fields.expirationTime);
  const notBefore = parseTime("Not Before", fields.notBefore);
  return { issuedAt, ...(expirationTime && { expirationTime }), ...(notBefore && { notBefore }) };
}

/**
 * Issued-at must be recent (a captured message is useless after maxAgeMs even
 * with a long Expiration Time). Skew is allowed only on "not yet" checks, for a
 * signer whose clock runs ahead; expiry is strict so no message outlives what it says.
 */
export function checkTimeWindow(times: SignInTimes, nowMs: number, window: TimeWindow): void {
  const now = new Date(nowMs);
  const issuedMs = times.issuedAt.getTime();
  if (issuedMs > nowMs + window.clockSkewMs) {
    throw new SiweRefusal(
      "issued_in_future",
      `issued-at check failed: Issued At ${iso(times.issuedAt)} is more than ${window.clockSkewMs} ms after now (${iso(now)})`,
    );
  }
  if (nowMs - issuedMs > window.maxAgeMs) {
    throw new SiweRefusal(
      "issued_too_long_ago",
      `issued-at check failed: Issued At ${iso(times.issuedAt)} is more than ${window.maxAgeMs} ms before now (${iso(now)})`,
    );
  }
  if (times.expirationTime && nowMs >= times.expirationTime.getTime()) {
    throw new SiweRefusal(
      "expired",
      `expiry check failed: Expiration Time ${iso(times.expirationTime)} is not after now (${iso(now)})`,
    );
  }
  if (times.notBefore && times.notBefore.getTime() > nowMs + window.clockSkewMs) {
    throw new SiweRefusal(
      "not_yet_valid",
      `not-before check failed: Not Before ${iso(times.notBefore)} is more than ${window.clockSkewMs} ms after now (${iso(now)})`,
    );
  }
}

function parseTime(field: string, text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) throw new SiweRefusal("malformed", `grammar check failed: ${field} is not a valid date`);
  return date;
}

function iso(date: Date): string {
  return date.toISOString();
}
