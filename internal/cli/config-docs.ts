import { defaultInWords, envName, type FlagTable, flagName } from "./flag-table.js";
import { NODE_DAEMON_ENV_PREFIX, nodeDaemonFlags } from "./node-daemon-flags.js";
import { NODE_SSH_GATEWAY_ENV_PREFIX, nodeSshGatewayFlags } from "./node-ssh-gateway-flags.js";
import { RENTAL_HUB_ENV_PREFIX, rentalHubFlags } from "./rental-hub-flags.js";

export const CONFIG_TABLE_START = "<!-- config-table:start -->";
export const CONFIG_TABLE_END = "<!-- config-table:end -->";

const cell = (s: string): string => s.replace(/\|/g, "\\|");
const code = (s: string): string => (s === "" ? "" : `\`${cell(s)}\``);

/** One Markdown table of a program's settings, straight from its flag table. */
export function settingsTable(table: FlagTable, envPrefix: string, opts: { configFile?: boolean } = {}): string {
  const rows = Object.entries(table).map(([key, spec]) => {
    const name = flagName(key);
    const env = [envName(envPrefix, key), ...(spec.envAliases ?? [])].map(code).join(", ");
    const fileKey = spec.notInFile || opts.configFile === false ? "" : `${code(name)} (${spec.toml})`;
    const def = spec.defaultText !== undefined ? cell(spec.defaultText) : code(defaultInWords(spec.default));
    return `| ${code(`-${name}`)} | ${fileKey} | ${env} | ${def} | ${cell(spec.help)} |`;
  });
  return ["| Flag | Config file key | Environment | Default | Meaning |", "|---|---|---|---|---|", ...rows].join("\n");
}

/** What goes between the README's config-table markers. */
export function configDocs(): string {
  return [
    "### node-daemon",
    "",
    settingsTable(nodeDaemonFlags, NODE_DAEMON_ENV_PREFIX),
    "",
    "### node-ssh-gateway",
    "",
    "Flags and environment only (no config file). Where renters' SSH listens is node-daemon's `-ssh-ports` and `-ssh-listen-host`: the daemon hands them over.",
    "",
    settingsTable(nodeSshGatewayFlags, NODE_SSH_GATEWAY_ENV_PREFIX, { configFile: false }),
    "",
    "### rental-hub",
    "",
    settingsTable(rentalHubFlags, RENTAL_HUB_ENV_PREFIX),
  ].join("\n");
}

/** The README with the generated section put between the markers (which must be there). */
export function withConfigDocs(readme: string): string {
  const start = readme.indexOf(CONFIG_TABLE_START);
  const end = readme.indexOf(CONFIG_TABLE_END);
  if (start < 0 || end < start) throw new Error(`README has no ${CONFIG_TABLE_START} ... ${CONFIG_TABLE_END} markers`);
  return `${readme.slice(0, start + CONFIG_TABLE_START.length)}\n${configDocs()}\n${readme.slice(end)}`;
}
