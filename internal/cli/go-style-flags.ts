/**
 * Users of the Go daemon type `-hub host:8443` and `-enable-mining=false`.
 * commander only knows `--hub`, so long single-dash flags are rewritten before parsing.
 * Single-letter flags (`-h`, `-V`) and everything after `--` are left alone.
 */
export function normalizeGoStyleFlags(argv: readonly string[]): string[] {
  const out: string[] = [];
  let passthrough = false;
  for (const arg of argv) {
    if (passthrough || arg === "--") {
      passthrough = true;
      out.push(arg);
      continue;
    }
    out.push(/^-[a-zA-Z][a-zA-Z0-9-]+(=.*)?$/s.test(arg) ? `-${arg}` : arg);
  }
  return out;
}

/** Go's bool flags accept true/false/1/0/t/f; a bare flag means true. */
export function parseGoBool(value: string | undefined): boolean {
  if (value === undefined) return true;
  const v = value.toLowerCase();
  if (["true", "t", "1", "yes"].includes(v)) return true;
  if (["false", "f", "0", "no"].includes(v)) return false;
  throw new Error(`invalid boolean "${value}": use true or false`);
}
