const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses Go-style durations ("30s", "1h30m", "720h", "250ms") into milliseconds. */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== trimmed) {
    throw new Error(`invalid duration "${text}": use a number with a unit, e.g. 30s, 5m, 72h`);
  }
  return parts.reduce((sum, p) => sum + Number(p[1]) * (UNITS_MS[p[2] as string] ?? 0), 0);
}
