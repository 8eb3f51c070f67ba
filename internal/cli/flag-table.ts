import { type Command, InvalidArgumentError, Option } from "commander";
import { parseGoBool } from "./go-style-flags.js";

/**
 * One setting, declared once: its flag (`--name`), config-file key (`name`), environment variable
 * (`PREFIX_NAME`) and README row are all derived from the table key (camelCase) and this spec.
 */
export interface FlagSpec<T> {
  /** Placeholder for the value in --help, e.g. "host:port"; absent for a boolean. */
  value?: string;
  help: string;
  default: T;
  /** The default in words, when it is computed or absent (e.g. "first non-loopback IPv4"); `literal` parts in backticks. */
  defaultText?: string;
  /** One value as text: a flag's argument or an environment variable. Throws InvalidArgumentError. */
  parse(text: string): T;
  /** A config-file value (already typed by TOML). Throws InvalidArgumentError. */
  fromFile(value: unknown): T;
  /** Each flag adds one entry; the environment variable holds one entry a line. */
  repeatable?: { add(previous: T, text: string): T; empty: T };
  boolean?: true;
  /** Older environment names still read, below the derived one. */
  envAliases?: readonly string[];
  /** Kept out of messages; a config file that holds it must be mode 0600. */
  secret?: true;
  /** Not accepted in a config file (the config file's own path). */
  notInFile?: true;
  /** What the config file takes, in words (for the README). */
  toml: string;
}

export type FlagTable = Record<string, FlagSpec<unknown>>;

/** The typed result of resolving a table: one value per key. */
export type FlagValues<T extends FlagTable> = { [K in keyof T]: T[K] extends FlagSpec<infer V> ? V : never };

export const flagName = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
export const envName = (prefix: string, key: string): string => `${prefix}${flagName(key).toUpperCase().replace(/-/g, "_")}`;

// ---------------------------------------------------------------- kinds of settings

interface Common {
  value?: string;
  help: string;
  defaultText?: string;
  envAliases?: readonly string[];
  secret?: true;
  notInFile?: true;
}

function typeName(v: unknown): string {
  if (Array.isArray(v)) return "a list";
  if (v === null || v === undefined) return "nothing";
  if (typeof v === "object") return "a table";
  return `a ${typeof v}`;
}

/** Free text; an empty value means "not set" where the setting is optional. */
export function text(o: Common & { default: string }): FlagSpec<string>;
export function text(o: Common & { default?: undefined }): FlagSpec<string | undefined>;
export function text(o: Common & { default?: string }): FlagSpec<string | undefined> {
  return {
    ...o,
    default: o.default,
    toml: "string",
    parse: (t) => t,
    fromFile: (v) => {
      if (typeof v !== "string") throw new InvalidArgumentError(`expected a string, got ${typeName(v)}`);
      return v;
    },
  };
}

/** Text checked by a parser (numbers, durations, ports, ...). TOML numbers are accepted where `numbers` is set. */
export function parsed<T>(o: Common & { default: T; parse: (t: string) => T; numbers?: true }): FlagSpec<T> {
  return {
    ...o,
    toml: o.numbers ? "number or string" : "string",
    fromFile: (v) => {
      if (typeof v === "string") return o.parse(v);
      if (o.numbers && (typeof v === "number" || typeof v === "bigint")) return o.parse(String(v));
      throw new InvalidArgumentError(`expected ${o.numbers ? "a number or a string" : "a string"}, got ${typeName(v)}`);
    },
  };
}

/** Go's bool: true/false/1/0/t/f/yes/no; a bare flag means true. */
export function bool(o: Omit<Common, "value"> & { default: boolean }): FlagSpec<boolean> {
  const parse = (t: string): boolean => {
    try {
      return parseGoBool(t);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
  return {
    ...o,
    boolean: true,
    toml: "boolean",
    parse,
    fromFile: (v) => {
      if (typeof v === "boolean") return v;
      if (typeof v === "string") return parse(v);
      throw new InvalidArgumentError(`expected true or false, got ${typeName(v)}`);
    },
  };
}

/** One of a fixed set of words. */
export function oneOf<const C extends string>(o: Common & { choices: readonly C[]; default: C }): FlagSpec<C> {
  const parse = (t: string): C => {
    if (!(o.choices as readonly string[]).includes(t)) throw new InvalidArgumentError(`expected one of ${o.choices.join(", ")}`);
    return t as C;
  };
  return { ...o, help: `${o.help} (${o.choices.join(", ")})`, toml: "string", parse, fromFile: (v) => parse(typeof v === "string" ? v : "") };
}

/** A list: one text that `split` cuts (flag, environment), or a TOML array of strings (file); `each` checks every entry. */
export function list(o: Common & { default: string[]; split: (t: string) => string[]; each?: (t: string) => string }): FlagSpec<string[]> {
  const one = (t: string): string => {
    try {
      return o.each ? o.each(t) : t;
    } catch (err) {
      throw new InvalidArgumentError(`${JSON.stringify(t)}: ${(err as Error).message}`);
    }
  };
  const checked = (items: string[]): string[] => items.map(one);
  return {
    ...o,
    toml: "list of strings",
    parse: (t) => checked(o.split(t)),
    fromFile: (v) => {
      if (typeof v === "string") return checked(o.split(v));
      if (Array.isArray(v) && v.every((x) => typeof x === "string")) return checked(v as string[]);
      throw new InvalidArgumentError(`expected a list of strings, got ${typeName(v)}`);
    },
  };
}

export interface EnvVar {
  name: string;
  value: string;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ENV_ENTRY_HINT = "expected NAME=VALUE with a variable name, e.g. POOL_URL=stratum+tcp://pool:3333";

function envEntry(t: string): EnvVar {
  const eq = t.indexOf("=");
  const name = eq > 0 ? t.slice(0, eq) : "";
  if (!ENV_NAME.test(name)) throw new InvalidArgumentError(ENV_ENTRY_HINT);
  return { name, value: t.slice(eq + 1) };
}

/**
 * NAME=VALUE pairs: a repeated flag, one pair a line in the environment variable, and a TOML
 * table (`[mining-env]` with `NAME = "value"`) or a list of "NAME=VALUE" strings in the file.
 */
export function envPairs(o: Common): FlagSpec<EnvVar[]> {
  const parse = (t: string): EnvVar[] =>
    t
      .split(/\r?\n/)
      .filter((l) => l.trim() !== "")
      .map(envEntry);
  return {
    ...o,
    default: [],
    toml: 'table of NAME = "value"',
    parse,
    repeatable: { add: (prev, t) => [...prev, envEntry(t)], empty: [] },
    fromFile: (v) => {
      if (Array.isArray(v) && v.every((x) => typeof x === "string")) return (v as string[]).map(envEntry);
      if (typeof v === "object" && v !== null && !Array.isArray(v)) {
        return Object.entries(v).map(([name, value]) => {
          if (!ENV_NAME.test(name)) throw new InvalidArgumentError(`"${name}" is not a variable name`);
          if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") throw new InvalidArgumentError(`${name}: expected a string, got ${typeName(value)}`);
          return { name, value: String(value) };
        });
      }
      throw new InvalidArgumentError(`expected a table of NAME = "value" or a list of "NAME=VALUE" strings, got ${typeName(v)}`);
    },
  };
}

// ---------------------------------------------------------------- commander

/**
 * Adds every setting of the table as a flag. commander only collects the text (a repeated flag's
 * texts, true for a bare boolean); resolveSettings parses it like the environment's, so opts()
 * holds only what was typed and a parser may well answer undefined ("-metrics-listen=" = off).
 */
export function addFlagTable(cmd: Command, table: FlagTable, envPrefix: string): Command {
  for (const [key, spec] of Object.entries(table)) {
    const name = flagName(key);
    const env = [envName(envPrefix, key), ...(spec.envAliases ?? [])].map((e) => `$${e}`).join(", ");
    const def = spec.defaultText?.replace(/`/g, "") ?? defaultInWords(spec.default);
    const help = `${spec.help}${def ? ` (default: ${def})` : ""} [env ${env}]`;
    const opt = spec.boolean ? new Option(`--${name} [bool]`, help) : new Option(`--${name} <${spec.value ?? "value"}>`, help);
    if (spec.repeatable) opt.argParser((v: string, prev: unknown) => [...(Array.isArray(prev) ? (prev as string[]) : []), v]);
    cmd.addOption(opt);
  }
  return cmd;
}

/** How a default reads in --help and the README ("" when there is none). */
export function defaultInWords(v: unknown): string {
  if (v === undefined || v === "") return "";
  if (Array.isArray(v)) return v.length === 0 ? "" : v.join(",");
  if (typeof v === "object" && v !== null && "first" in v && "last" in v) return `${String(v.first)}-${String(v.last)}`;
  return String(v);
}
