/** When a rental that started at `startedAt` must end: its own limit or what its deposit pays for, whichever comes first. */
export function limitOf(startedAt: Date, maxDurationSeconds: number, paidSeconds: number | null): Date | null {
  const limits = [maxDurationSeconds, paidSeconds ?? 0].filter((s) => s > 0);
  return limits.length > 0 ? new Date(startedAt.getTime() + Math.min(...limits) * 1000) : null;
}
