/** Percentiles, the result rows, and the tables they print as. */

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

export interface Row {
  nodes: number;
  phase: string;
  connected: string;
  connectPerS: string;
  connectMs: string;
  hbSent: string;
  hbHub: string;
  hbLagMs: string;
  offline: string;
  cmdMs: string;
  readMs: string;
  hubCpu: string;
  hubRss: string;
  benchCpu: string;
  pgCpu: string;
  otherCpu: string;
  benchLag: string;
  verdict: string;
}

const COLUMNS: Array<[keyof Row, string]> = [
  ["nodes", "N"],
  ["phase", "phase"],
  ["connected", "connected"],
  ["connectPerS", "conn/s"],
  ["connectMs", "conn p50/p99 ms"],
  ["hbSent", "hb/s sent"],
  ["hbHub", "hb/s hub"],
  ["hbLagMs", "hb lag p50/p99 ms"],
  ["offline", "offline"],
  ["cmdMs", "cmd p50/p99 ms"],
  ["readMs", "read p50/p99 ms"],
  ["hubCpu", "hub CPU%"],
  ["hubRss", "hub RSS MiB"],
  ["benchCpu", "bench CPU%"],
  ["pgCpu", "pg CPU%"],
  ["otherCpu", "other CPU%"],
  ["benchLag", "bench lag p99 ms"],
  ["verdict", "kept up?"],
];

export function table(rows: Row[]): string {
  // Names (N, phase) and the verdict read left to right; figures line up on the right.
  return grid(
    COLUMNS.map(([, h]) => h),
    rows.map((r) => COLUMNS.map(([k]) => String(r[k]))),
    (i) => i >= 2 && i < COLUMNS.length - 1,
  );
}

/** A Markdown table, every column as wide as its widest cell. */
export function grid(header: string[], rows: string[][], rightAligned: (column: number) => boolean = () => false): string {
  const cells = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...cells.map((c) => (c[i] ?? "").length)));
  const line = (c: string[]): string => `| ${c.map((v, i) => (rightAligned(i) ? v.padStart(widths[i] ?? 0) : v.padEnd(widths[i] ?? 0))).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}

export const dash = "-";
export const f0 = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : dash);
export const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : dash);
export const pair = (xs: number[], digits = 0): string => (xs.length === 0 ? dash : `${percentile(xs, 50).toFixed(digits)}/${percentile(xs, 99).toFixed(digits)}`);

export function emptyRow(nodes: number, phase: string): Row {
  return { nodes, phase, connected: dash, connectPerS: dash, connectMs: dash, hbSent: dash, hbHub: dash, hbLagMs: dash, offline: dash, cmdMs: dash, readMs: dash, hubCpu: dash, hubRss: dash, benchCpu: dash, pgCpu: dash, otherCpu: dash, benchLag: dash, verdict: dash };
}

/** The cells compared across stores, one "sqlite | postgres" pair each. */
const SIDE_BY_SIDE: Array<[keyof Row, string]> = [
  ["connected", "connected"],
  ["hbHub", "hb/s hub"],
  ["hbLagMs", "hb lag p50/p99 ms"],
  ["cmdMs", "cmd p50/p99 ms"],
  ["hubCpu", "hub CPU%"],
  ["hubRss", "hub RSS MiB"],
  ["verdict", "kept up?"],
];

/** One row per N and phase, each cell "SQLite | PostgreSQL", for rows that ran on both stores. */
export function sideBySide(sqlite: Row[], postgres: Row[]): string {
  const key = (r: Row): string => `${r.nodes}\u0000${r.phase}`;
  const pg = new Map(postgres.map((r) => [key(r), r]));
  const rows = sqlite.flatMap((s) => {
    const p = pg.get(key(s));
    return p ? [[String(s.nodes), s.phase, ...SIDE_BY_SIDE.map(([k]) => `${s[k]} \u2502 ${p[k]}`)]] : [];
  });
  if (rows.length === 0) return "";
  return grid(["N", "phase", ...SIDE_BY_SIDE.map(([, h]) => `${h} (SQLite \u2502 PG)`)], rows);
}
