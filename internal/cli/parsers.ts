import { InvalidArgumentError } from "commander";
import { parsePortRange } from "../ssh/port-range.js";
import { parseDuration } from "../util/duration.js";
import { parseGoBool } from "./go-style-flags.js";

/** commander parsers that turn a bad value into a message naming what was expected. */
export function intIn(min: number, max: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

export function positiveNumber(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("expected a positive number");
  return n;
}

export function weiAmount(v: string): string {
  if (!/^(0|[1-9][0-9]{0,77})$/.test(v)) throw new InvalidArgumentError("expected wei as a whole decimal number (any size), e.g. 1000000000");
  return v;
}

export function duration(v: string): number {
  try {
    return parseDuration(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

export function goBool(v: string): boolean {
  try {
    return parseGoBool(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

export function portRange(v: string): { first: number; last: number } {
  try {
    return parsePortRange(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** Collects repeated NAME=VALUE flags. */
export function envEntry(v: string, previous: { name: string; value: string }[]): { name: string; value: string }[] {
  const eq = v.indexOf("=");
  const name = eq > 0 ? v.slice(0, eq) : "";
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new InvalidArgumentError("expected NAME=VALUE with a variable name, e.g. POOL_URL=stratum+tcp://pool:3333");
  return [...previous, { name, value: v.slice(eq + 1) }];
}
