import { Command } from "commander";
import { parseHostPort } from "../grpc/host-port.js";
import { defaultHubOptions, type HubOptions } from "../hub/options.js";
import { addLogFlags, type LogFlags, logFlags } from "./log-flags.js";
import { duration, intIn } from "./parsers.js";

export interface RentalHubArgs {
  hub: HubOptions;
  log: LogFlags;
}

const ms = (v: number): string => `${v / 1000}s`;

export function rentalHubProgram(env: NodeJS.ProcessEnv = process.env): Command {
  const d = defaultHubOptions;
  const cmd = new Command("rental-hub")
    .description("GPU rental hub: signs nodes in, runs their CA, holds their mTLS streams.\nFlags take one dash or two.")
    .option("--data-dir <path>", "database and CA folder", env.HUB_DATA_DIR ?? d.dataDir)
    .option("--database-url <url>", "PostgreSQL (postgres://user:pass@host/db); default: SQLite in the data dir; env HUB_DATABASE_URL", env.HUB_DATABASE_URL)
    .option("--grpc-listen <host:port>", "node-facing gRPC (mTLS) listener", ":8443")
    .option("--http-listen <host:port>", "REST (HTTPS) listener", ":8080")
    .option("--public-host <names>", "comma-separated names/addresses nodes use to reach the hub (go into its certificate; the first is the SIWE domain's host)", d.publicHosts.join(","))
    .option("--siwe-domain <domain>", "EIP-4361 domain sign-ins must name (default: first public host:HTTP port; env SIWE_DOMAIN)", env.SIWE_DOMAIN)
    .option("--chain-id <id>", "EIP-155 chain id sign-ins must name", intIn(1, 2 ** 53 - 1), d.chainId)
    .option("--insecure-http", "serve REST over plain HTTP (local testing only)", false)
    .option("--cert-lifetime <duration>", "node certificate lifetime, e.g. 168h", duration, d.certLifetimeMs)
    .option("--heartbeat-interval <duration>", "how often nodes heartbeat", duration, d.heartbeatIntervalMs);
  cmd.addHelpText("after", `\nDefaults: cert lifetime ${ms(d.certLifetimeMs)}, heartbeat ${ms(d.heartbeatIntervalMs)}; a node is offline after ${d.offlineAfterMissed} missed heartbeats.`);
  return addLogFlags(cmd).allowExcessArguments(false);
}

export function toRentalHubArgs(raw: Record<string, unknown>): RentalHubArgs {
  const publicHosts = String(raw.publicHost)
    .split(",")
    .map((h) => h.trim())
    .filter(Boolean);
  if (publicHosts.length === 0) throw new Error("--public-host needs at least one name or address");
  return {
    hub: {
      ...defaultHubOptions,
      dataDir: raw.dataDir as string,
      databaseUrl: typeof raw.databaseUrl === "string" && raw.databaseUrl !== "" ? raw.databaseUrl : undefined,
      grpcListen: parseHostPort(raw.grpcListen as string, "--grpc-listen"),
      httpListen: parseHostPort(raw.httpListen as string, "--http-listen"),
      publicHosts,
      siweDomain: typeof raw.siweDomain === "string" && raw.siweDomain !== "" ? raw.siweDomain : undefined,
      chainId: raw.chainId as number,
      insecureHttp: raw.insecureHttp === true,
      certLifetimeMs: raw.certLifetime as number,
      heartbeatIntervalMs: raw.heartbeatInterval as number,
    },
    log: logFlags(raw),
  };
}
