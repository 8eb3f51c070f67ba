import { readFile, stat } from "node:fs/promises";
import { parse as parseToml, TomlError } from "smol-toml";
import { envName, type FlagTable, type FlagValues, flagName } from "./flag-table.js";
import { AppError } from "../errors/app-error.js";

/** A setting that cannot be used, named with where it came from. Printed without a stack. */
export class ConfigError extends AppError {
  readonly code = "config";
  override readonly shownToUser = true;
  override readonly name = "ConfigError";
}

export type SettingSource = "flag" | "env" | "file" | "default";

export interface SettingsInput {
  /** What commander parsed: only the flags that were typed (camelCase keys). */
  flags: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
  /** PREFIX_ of the environment variables, e.g. "NODE_DAEMON_". */
  envPrefix: string;
  /** Variables under the prefix that are not settings but are known (e.g. systemd's NODE_DAEMON_ARGS). */
  envAllowed?: readonly string[];
  /** The table key holding the config file's path ("config"). */
  configKey?: string;
}

export interface Resolved<T extends FlagTable> {
  values: FlagValues<T>;
  sources: { [K in keyof T]: SettingSource };
  /** The config file read, if any. */
  configFile?: string;
}

/**
 * Flags over environment over config file over defaults. Unknown keys and bad values are
 * refused, each message naming the key and where it came from.
 */
export async function resolveSettings<T extends FlagTable>(table: T, input: SettingsInput): Promise<Resolved<T>> {
  const values: Record<string, unknown> = {};
  const sources: Record<string, SettingSource> = {};
  for (const [key, spec] of Object.entries(table)) {
    values[key] = spec.default;
    sources[key] = "default";
  }
  const fromFlags = readFlags(table, input.flags);
  const fromEnv = readEnv(table, input);
  const configKey = input.configKey;
  const configPath = configKey ? pickString(fromFlags[configKey]) ?? pickString(fromEnv[configKey]) : undefined;
  const fromFile = configPath ? await readConfigFile(table, configPath) : {};
  for (const [layer, source] of [[fromFile, "file"], [fromEnv, "env"], [fromFlags, "flag"]] as const) {
    for (const [key, value] of Object.entries(layer)) {
      values[key] = value;
      sources[key] = source;
    }
  }
  return { values: values as FlagValues<T>, sources: sources as Resolved<T>["sources"], ...(configPath ? { configFile: configPath } : {}) };
}

/** Where a resolved value came from, in the words the parse errors use ("flag -hub-http", ...). */
export function whereSet<T extends FlagTable>(table: T, key: keyof T & string, resolved: Resolved<T>, envPrefix: string): string {
  const name = flagName(key);
  switch (resolved.sources[key]) {
    case "flag":
      return `flag -${name}`;
    case "env":
      return `environment variable ${[envName(envPrefix, key), ...(table[key]?.envAliases ?? [])].join(" / ")}`;
    case "file":
      return `config file ${resolved.configFile ?? ""}: key "${name}"`;
    default:
      return `-${name} (its default)`;
  }
}

const pickString = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/** commander's texts (see addFlagTable), parsed like every other source. */
function readFlags(table: FlagTable, flags: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(flags)) {
    const spec = table[key];
    if (!spec || raw === undefined) continue;
    try {
      if (spec.boolean && raw === true) out[key] = true;
      else if (spec.repeatable && Array.isArray(raw)) out[key] = (raw as string[]).reduce((acc, t) => spec.repeatable?.add(acc, t), spec.repeatable.empty);
      else out[key] = spec.parse(String(raw));
    } catch (err) {
      throw new ConfigError(`flag -${flagName(key)}: ${(err as Error).message}`);
    }
  }
  return out;
}

function readEnv(table: FlagTable, input: SettingsInput): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const known = new Set(input.envAllowed ?? []);
  for (const [key, spec] of Object.entries(table)) {
    const names = [envName(input.envPrefix, key), ...(spec.envAliases ?? [])];
    for (const n of names) known.add(n);
    const name = names.find((n) => input.env[n] !== undefined);
    if (name === undefined) continue;
    const raw = input.env[name] as string;
    try {
      out[key] = spec.parse(raw);
    } catch (err) {
      throw new ConfigError(`environment variable ${name}: ${(err as Error).message}`);
    }
  }
  for (const name of Object.keys(input.env)) {
    if (!name.startsWith(input.envPrefix) || known.has(name)) continue;
    const settings = Object.keys(table).map((k) => envName(input.envPrefix, k));
    throw new ConfigError(`environment variable ${name} is not a setting${suggest(name, settings)}; the settings are ${input.envPrefix}<FLAG> for each flag (see --help)`);
  }
  return out;
}

async function readConfigFile(table: FlagTable, path: string): Promise<Record<string, unknown>> {
  const where = `config file ${path}`;
  let textContent: string;
  try {
    textContent = await readFile(path, "utf8");
  } catch (err) {
    throw new ConfigError(`${where}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(textContent, { integersAsBigInt: "asNeeded", unsafeKeyBehaviour: "throw" });
  } catch (err) {
    if (err instanceof TomlError) throw new ConfigError(`${where}: not valid TOML at line ${err.line}, column ${err.column}: ${err.message.split("\n")[0]}`);
    throw err;
  }
  const byName = new Map(Object.entries(table).map(([key, spec]) => [flagName(key), { key, spec }]));
  const out: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(doc)) {
    const entry = byName.get(name);
    if (!entry || entry.spec.notInFile) {
      const why = entry ? "cannot be set in a config file" : `is not a setting${suggest(name, [...byName.keys()])}; keys are the long flag names, e.g. hub = "hub.example.com:8443"`;
      throw new ConfigError(`${where}: key "${name}" ${why}`);
    }
    try {
      out[entry.key] = entry.spec.fromFile(raw);
    } catch (err) {
      throw new ConfigError(`${where}: key "${name}": ${(err as Error).message}`);
    }
    if (entry.spec.secret) await requireOwnerOnly(path, name);
  }
  return out;
}

async function requireOwnerOnly(path: string, key: string): Promise<void> {
  const mode = (await stat(path)).mode;
  if ((mode & 0o077) === 0) return;
  const octal = (mode & 0o777).toString(8).padStart(4, "0");
  throw new ConfigError(`config file ${path} holds ${key} but is readable by group or others (mode ${octal}); run: chmod 600 ${path}`);
}

/** ` (did you mean "x"?)` for a near miss: typos and snake_case for kebab-case. */
function suggest(name: string, candidates: string[]): string {
  const norm = (s: string): string => s.toLowerCase().replace(/_/g, "-");
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const d = editDistance(norm(name), norm(c));
    if (!best || d < best.d) best = { c, d };
  }
  return best && best.d <= Math.max(2, Math.floor(name.length / 4)) ? ` (did you mean "${best.c}"?)` : "";
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}
