/** Where a command's results go: a table for people, one JSON document with --json. */
export interface Output {
  json: boolean;
  out(text: string): void;
  err(text: string): void;
}

export const stdio = (json: boolean): Output => ({
  json,
  out: (t) => void process.stdout.write(t.endsWith("\n") ? t : `${t}\n`),
  err: (t) => void process.stderr.write(t.endsWith("\n") ? t : `${t}\n`),
});

/** Columns padded to their widest cell. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ").trimEnd();
  return [line(head), ...rows.map(line)].join("\n");
}

/** What amounts are in: the hub's chain's native currency, or its escrow's token (the session says which). */
let currency = { symbol: "ETH", decimals: 18 };

export function useCurrency(c: { symbol: string; decimals: number }): void {
  currency = c;
}

/** An amount in the currency's base unit ("wei") in whole units, up to 6 decimals, exact in bigints ("0.000123 ETH"). */
export function ether(wei: string | bigint): string {
  const one = 10n ** BigInt(currency.decimals);
  const digits = Math.min(6, currency.decimals);
  const v = BigInt(wei);
  const frac = digits > 0 ? (((v % one) * 10n ** BigInt(digits)) / one).toString().padStart(digits, "0").replace(/0+$/, "") : "";
  return `${v / one}${frac ? `.${frac}` : ""} ${currency.symbol}`;
}

/** A price per second in wei as the price of one GPU-hour. */
export function perGpuHour(pricePerSecWei: string): string {
  return `${ether(BigInt(pricePerSecWei) * 3600n)}/GPU-h`;
}
