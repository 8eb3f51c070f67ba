import { InvalidArgumentError } from "commander";
import { type HostPort, parseHostPort } from "../grpc/host-port.js";
import { parseIpv4Cidr } from "../network/egress.js";
import { parsePortRange } from "../ssh/port-range.js";
import { parseDuration } from "../util/duration.js";

/** Parsers that turn a bad value into a message naming what was expected (flags, environment, config file). */
export function intIn(min: number, max: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

export function positiveNumber(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("expected a positive number");
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

export function portRange(v: string): { first: number; last: number } {
  try {
    return parsePortRange(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

export function hostPort(v: string): HostPort {
  try {
    return parseHostPort(v, "address");
  } catch {
    throw new InvalidArgumentError("expected host:port, e.g. 127.0.0.1:9464, [::1]:9464 or :9464");
  }
}

/** host:port, or empty for "off". */
export function optionalHostPort(v: string): HostPort | undefined {
  return v.trim() === "" ? undefined : hostPort(v);
}

const SIZE_UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** A size like Docker's: 100G, 512m, 1.5T, 1073741824 (bytes); K/M/G/T are powers of 1024. Empty means none. */
export function optionalByteSize(v: string): number | undefined {
  if (v.trim() === "") return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(v.trim());
  const bytes = m ? Math.floor(Number(m[1]) * (SIZE_UNITS[(m[2] ?? "").toLowerCase()] ?? NaN)) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1024 ** 2) throw new InvalidArgumentError("expected a size of at least 1M, e.g. 100G, 512M or a number of bytes");
  return bytes;
}

/** An IPv4 address or CIDR, in the form iptables writes it (10.1.2.0/24). */
export function ipv4Cidr(v: string): string {
  try {
    return parseIpv4Cidr(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

export const commaList = (v: string): string[] =>
  v
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

export const spaceList = (v: string): string[] => v.split(/\s+/).filter(Boolean);
