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

const WEI_PER_ETH = 10n ** 18n;

/** Wei as ether with up to 6 decimals, exact in bigints ("0.000123 ETH"). */
export function ether(wei: string | bigint): string {
  const v = BigInt(wei);
  const whole = v / WEI_PER_ETH;
  const frac = ((v % WEI_PER_ETH) * 1_000_000n) / WEI_PER_ETH;
  const fracText = frac.toString().padStart(6, "0").replace(/0+$/, "");
  return `${whole}${fracText ? `.${fracText}` : ""} ETH`;
}

/** A price per second in wei as the price of one GPU-hour. */
export function perGpuHour(pricePerSecWei: string): string {
  return `${ether(BigInt(pricePerSecWei) * 3600n)}/GPU-h`;
}
