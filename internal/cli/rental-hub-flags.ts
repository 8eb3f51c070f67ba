import { Command } from "commander";
import { VERSION } from "../version.js";
import { type ChainOptions, defaultHubOptions, type HubOptions } from "../hub/options.js";
import { cidr, hostName, optional, postgresUrl, rpcUrl, siweDomain } from "./address-parsers.js";
import { ethAddress } from "./eth-address-parser.js";
import { addFlagTable, bool, type FlagValues, list, parsed, text } from "./flag-table.js";
import { type LogFlags, logFlags, logFlagTable } from "./log-flags.js";
import { readSecretFile } from "./secret-file.js";
import { ConfigError, type Resolved, resolveSettings, whereSet } from "./settings.js";
import { commaList, duration, hostPort, intIn, optionalHostPort } from "./parsers.js";

export const RENTAL_HUB_ENV_PREFIX = "RENTAL_HUB_";
/** Read by systemd's unit (ExecStart=... $RENTAL_HUB_ARGS), not by the hub. */
const RENTAL_HUB_ENV_ALLOWED = ["RENTAL_HUB_ARGS"];

const d = defaultHubOptions;
const ms = (v: number): string => `${v / 1000}s`;

/** Every rental-hub setting, once: flag, config-file key, RENTAL_HUB_<KEY> variable, --help and README. */
export const rentalHubFlags = {
  config: text({ value: "path", help: "TOML config file: any setting below by its flag name (flags and environment override it)", notInFile: true }),
  dataDir: text({ value: "path", help: "SQLite database and the CA (ca/ca.key: back it up)", default: d.dataDir, envAliases: ["HUB_DATA_DIR"] }),
  databaseUrl: parsed({ value: "url", help: "PostgreSQL (postgres://user:pass@host/db) instead of SQLite in the data dir", default: undefined, parse: optional(postgresUrl), secret: true, envAliases: ["HUB_DATABASE_URL"] }),
  databaseUrlFile: text({ value: "path", help: "file holding the database URL instead (systemd: LoadCredential=); refused unless mode 0600; an empty file means none" }),
  grpcListen: parsed({ value: "host:port", help: "node-facing gRPC (mTLS) listener", default: d.grpcListen, defaultText: "`:8443`", parse: hostPort }),
  httpListen: parsed({ value: "host:port", help: "REST (HTTPS) listener", default: d.httpListen, defaultText: "`:8080`", parse: hostPort }),
  publicHost: list({
    value: "names",
    help: "comma-separated names/addresses nodes use to reach the hub (they go into its certificate; the first makes the SIWE domain)",
    default: d.publicHosts,
    defaultText: "`localhost,127.0.0.1,::1,<hostname>`",
    split: commaList,
    each: hostName,
  }),
  siweDomain: parsed({ value: "domain", help: "EIP-4361 domain sign-ins must name (host or host:port)", default: undefined, defaultText: "first public host with the HTTP port", parse: optional(siweDomain), envAliases: ["SIWE_DOMAIN"] }),
  chainId: parsed({ value: "id", help: "EIP-155 chain id sign-ins must name", default: d.chainId, parse: intIn(1, 2 ** 53 - 1), numbers: true }),
  insecureHttp: bool({ help: "serve REST over plain HTTP (local testing only)", default: d.insecureHttp }),
  certLifetime: parsed({ value: "duration", help: "node certificate lifetime", default: d.certLifetimeMs, defaultText: "`168h`", parse: duration }),
  heartbeatInterval: parsed({ value: "duration", help: `how often nodes heartbeat; ${d.offlineAfterMissed} missed = offline`, default: d.heartbeatIntervalMs, defaultText: `\`${ms(d.heartbeatIntervalMs)}\``, parse: duration }),
  metricsListen: parsed({ value: "host:port", help: "Prometheus /metrics over plain HTTP; empty turns it off", default: d.metricsListen, defaultText: "`127.0.0.1:9465`", parse: optionalHostPort }),
  trustedProxy: list({
    value: "cidrs",
    help: "comma-separated reverse proxies (addresses or CIDRs) whose X-Forwarded-For names the client: per-IP limits then count the client, not the proxy",
    default: d.trustedProxies,
    defaultText: "none",
    split: commaList,
    each: cidr,
  }),
  maxConnectionsPerIp: parsed({ value: "n", help: "open HTTPS connections one client address may hold (0: no cap); behind a reverse proxy, raise it or cap at the proxy", default: d.connectionLimits.perAddress, parse: intIn(0, 1_000_000), numbers: true }),
  signInsPerIp: parsed({ value: "n", help: "sign-in attempts (nonce + verify) a client address may make per minute (half of them at once)", default: d.signInLimits.perIp.perMinute, parse: intIn(2, 1_000_000), numbers: true }),
  signInsPerWallet: parsed({ value: "n", help: "sign-ins a wallet may make per minute once its signature is proven (half of them at once)", default: d.signInLimits.perAddress.perMinute, parse: intIn(2, 1_000_000), numbers: true }),
  accessRefresh: parsed({ value: "duration", help: "how often bans and revoked certificates (rental-hub ban, revoke-cert) are read again: how soon they take effect", default: d.accessRefreshMs, defaultText: `\`${ms(d.accessRefreshMs)}\``, parse: duration }),
  chainRpc: parsed({ value: "url", help: "JSON-RPC URL of the chain (of -chain-id) that pays for rentals through the escrow; empty: rentals are free", default: undefined, parse: optional(rpcUrl), secret: true }),
  chainPublicRpc: parsed({ value: "url", help: "JSON-RPC URL renters' wallets and gpu-rent may use to pay (told to them; -chain-rpc never is)", default: undefined, parse: optional(rpcUrl) }),
  chainCurrency: text({ value: "symbol", help: "the chain's native currency, as amounts are shown (a token escrow shows its token's symbol)", default: "ETH" }),
  escrowAddress: parsed({ value: "address", help: "the RentalEscrow contract (rental-hub deploy-escrow prints it)", default: undefined, parse: optional(ethAddress) }),
  escrowFromBlock: parsed({ value: "block", help: "the escrow's deployment block: where the hub starts reading its logs", default: 0, parse: intIn(0, 2 ** 53 - 1), numbers: true }),
  chainConfirmations: parsed({ value: "n", help: "confirmations a funding needs before the rental starts (its own block counts)", default: 12, parse: intIn(1, 10_000), numbers: true }),
  chainPoll: parsed({ value: "duration", help: "how often the chain is read for new blocks", default: 2_000, defaultText: "`2s`", parse: duration }),
  operatorKeyFile: text({ value: "path", help: "the escrow operator's private key (marks rentals started, settles them); refused unless mode 0600" }),
  paymentWindow: parsed({ value: "duration", help: "how long a paid rental waits for its funding to be final", default: 15 * 60_000, defaultText: "`15m`", parse: duration }),
  minPaidDuration: parsed({ value: "duration", help: "the least time a deposit must pay for at the node's price", default: 60_000, defaultText: "`1m`", parse: duration }),
  announce: bool({ help: "announce the hub on the LANs it is on (mDNS, _gpu-rental-hub._tcp) with its ports and CA fingerprint, for node-daemon -hub auto; its LAN addresses join its certificate", default: d.announce }),
  minContainerToolkit: text({ value: "version", help: "nodes whose NVIDIA Container Toolkit is older get no rentals (known container escapes); empty turns the check off", default: d.rentals.toolkit.minimum }),
  containerToolkitExempt: list({ value: "node-ids", help: "comma-separated nodes that get rentals whatever their toolkit (the operator's exception)", default: [], defaultText: "none", split: commaList }),
  ...logFlagTable,
};

export type RentalHubSettings = FlagValues<typeof rentalHubFlags>;

export interface RentalHubArgs {
  hub: HubOptions;
  log: LogFlags;
}

export function rentalHubProgram(): Command {
  const cmd = new Command("rental-hub").description(
    "GPU rental hub: signs nodes in, runs their CA, holds their mTLS streams, books rentals.\n\n" +
      `Flags take one dash or two. Each flag is also a key of the -config file (TOML) and an environment variable ${RENTAL_HUB_ENV_PREFIX}<FLAG> ` +
      "(SIWE_DOMAIN, HUB_DATA_DIR and HUB_DATABASE_URL still work); flags beat the environment, which beats the file.",
  );
  cmd.version(VERSION, "-V, --version", "print the version and exit");
  return addFlagTable(cmd, rentalHubFlags, RENTAL_HUB_ENV_PREFIX).allowExcessArguments(false);
}

export function resolveRentalHubSettings(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Promise<Resolved<typeof rentalHubFlags>> {
  return resolveSettings(rentalHubFlags, { flags, env, envPrefix: RENTAL_HUB_ENV_PREFIX, envAllowed: RENTAL_HUB_ENV_ALLOWED, configKey: "config" });
}

export async function toRentalHubArgs(r: Resolved<typeof rentalHubFlags>): Promise<RentalHubArgs> {
  const { values: v, sources } = r;
  if (v.publicHost.length === 0) throw new ConfigError(`public-host (from ${sources.publicHost}) needs at least one name or address`);
  const s = (x: string | undefined): string | undefined => (x === "" ? undefined : x);
  return {
    hub: {
      ...defaultHubOptions,
      dataDir: v.dataDir,
      databaseUrl: await databaseUrl(r),
      grpcListen: v.grpcListen,
      httpListen: v.httpListen,
      publicHosts: v.publicHost,
      siweDomain: s(v.siweDomain),
      chainId: v.chainId,
      insecureHttp: v.insecureHttp,
      certLifetimeMs: v.certLifetime,
      heartbeatIntervalMs: v.heartbeatInterval,
      metricsListen: v.metricsListen,
      accessRefreshMs: v.accessRefresh,
      trustedProxies: v.trustedProxy,
      connectionLimits: { ...d.connectionLimits, perAddress: v.maxConnectionsPerIp },
      signInLimits: { perIp: perMinute(v.signInsPerIp), perAddress: perMinute(v.signInsPerWallet) },
      announce: v.announce,
      rentals: { ...d.rentals, toolkit: { minimum: v.minContainerToolkit, exempt: v.containerToolkitExempt } },
      ...(await chainOptions(r)),
    },
    log: logFlags(v),
  };
}

/** -chain-rpc turns payments on; it needs the escrow's address. The operator key is read here, once, from a 0600 file. */
async function chainOptions(r: Resolved<typeof rentalHubFlags>): Promise<{ chain?: ChainOptions }> {
  const v = r.values;
  if (!v.chainRpc) return {};
  if (!v.escrowAddress) throw new ConfigError("-chain-rpc needs -escrow-address (rental-hub deploy-escrow prints one)");
  const keyFile = v.operatorKeyFile;
  const operatorKey = keyFile ? await readSecretFile(keyFile, whereSet(rentalHubFlags, "operatorKeyFile", r, RENTAL_HUB_ENV_PREFIX)) : undefined;
  if (operatorKey !== undefined && !/^(0x)?[0-9a-fA-F]{64}$/.test(operatorKey)) throw new ConfigError(`-operator-key-file ${keyFile}: not a private key (64 hex digits)`);
  return {
    chain: {
      rpcUrl: v.chainRpc,
      chainId: v.chainId,
      publicRpcUrl: v.chainPublicRpc ?? "",
      escrowAddress: v.escrowAddress,
      confirmations: v.chainConfirmations,
      ...(operatorKey ? { operatorKey } : {}),
      fromBlock: v.escrowFromBlock,
      pollMs: v.chainPoll,
      paymentWindowMs: v.paymentWindow,
      minPaidSeconds: Math.max(1, Math.ceil(v.minPaidDuration / 1000)),
      defaultPaidSeconds: 3_600,
      currencySymbol: v.chainCurrency,
    },
  };
}

const perMinute = (n: number) => ({ perMinute: n, burst: Math.floor(n / 2) });

/** -database-url, or the URL in -database-url-file (never both: which one was meant is not ours to guess). */
async function databaseUrl(r: Resolved<typeof rentalHubFlags>): Promise<string | undefined> {
  const { databaseUrl: direct, databaseUrlFile: path } = r.values;
  if (!path) return direct;
  const where = whereSet(rentalHubFlags, "databaseUrlFile", r, RENTAL_HUB_ENV_PREFIX);
  const url = await readSecretFile(path, where);
  if (url === "") return direct;
  if (direct !== undefined) throw new ConfigError(`${where} and ${whereSet(rentalHubFlags, "databaseUrl", r, RENTAL_HUB_ENV_PREFIX)} both give a database URL; keep one`);
  try {
    return postgresUrl(url);
  } catch (err) {
    throw new ConfigError(`${where}: ${path}: ${(err as Error).message}`);
  }
}
