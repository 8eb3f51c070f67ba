import type { HubRental } from "../store/rental-store.js";

/**
 * Whole seconds the rental has run (or ran), from its start to its end or now. While its node is
 * away the count stops where the node was last seen, until the node says the rental ran on.
 */
export function secondsUsed(r: HubRental, now: Date): number {
  if (!r.startedAt) return 0;
  const end = r.endedAt ?? r.offlineSince ?? now;
  return Math.max(0, Math.ceil((end.getTime() - r.startedAt.getTime()) / 1000));
}

/** Exact wei: prices do not fit a double, so the product is a bigint, as a decimal string. */
export function costWei(r: HubRental, now: Date): string {
  return (BigInt(secondsUsed(r, now)) * BigInt(r.pricePerSecWei)).toString();
}
