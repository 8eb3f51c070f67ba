import type { ReplicaOptions } from "./cluster/replica.js";
import { hostname } from "node:os";
import type { HostPort } from "../grpc/host-port.js";
import { type ConnectionLimits, defaultConnectionLimits } from "./http/connection-limits.js";
import { SAFE_CONTAINER_TOOLKIT, type ToolkitPolicy } from "./rentals/toolkit-policy.js";

export interface HubOptions {
  dataDir: string;
  /** postgres://... selects PostgreSQL; absent, the embedded SQLite file in dataDir. */
  databaseUrl?: string;
  /** Node-facing gRPC over mTLS. */
  grpcListen: HostPort;
  /** REST over HTTPS: sign-in, bootstrap, read API. */
  httpListen: HostPort;
  /** Names and addresses nodes use to reach the hub: they go into its server certificate. */
  publicHosts: string[];
  /** The EIP-4361 domain sign-ins must name; defaults to the first public host with the HTTP port. */
  siweDomain?: string;
  chainId: number;
  /** Serve the REST API over plain HTTP (local use only). */
  insecureHttp: boolean;
  certLifetimeMs: number;
  /** The hub's own TLS certificate (HTTPS, gRPC); renewed in place at two thirds of it. */
  hubCertLifetimeMs: number;
  heartbeatIntervalMs: number;
  offlineAfterMissed: number;
  heartbeatFlushMs: number;
  nonceTtlMs: number;
  tokenTtlMs: number;
  /** Slow and idle HTTP connections, and how many one address may hold. */
  connectionLimits: ConnectionLimits;
  /** Reverse proxies (CIDRs) whose X-Forwarded-For names the client, for per-IP limits. */
  trustedProxies: string[];
  /** Sign-in attempts (nonce + verify) per client IP and per wallet. */
  signInLimits: { perIp: RateLimit; perAddress: RateLimit };
  /** Prometheus /metrics (plain HTTP); absent = no metrics. */
  metricsListen?: HostPort;
  rentals: RentalTimings;
  /** How soon a ban or revocation written by `rental-hub ban|revoke-cert` takes effect in a running hub. */
  accessRefreshMs: number;
  /** Announce the hub on the LANs it is on (mDNS/DNS-SD), for node-daemon -hub auto. */
  announce: boolean;
  /** Paid rentals through the escrow contract; absent, rentals are free (no chain). */
  chain?: ChainOptions;
  /** Replicas on PostgreSQL: how soon a dead replica's nodes are adopted (tests shorten it). */
  replica?: ReplicaOptions;
}

export interface ChainOptions {
  /** JSON-RPC URL of the chain. May hold an API key: never logged or shown. */
  rpcUrl: string;
  /** The chain the escrow is on: the hub's -chain-id, the one renters sign in with. */
  chainId: number;
  /** Told to renters so that their wallets and the CLI can pay; empty = none given. */
  publicRpcUrl: string;
  escrowAddress: string;
  confirmations: number;
  /** Absent: the hub reads the chain but queues its start and settle transactions until it has a key. */
  operatorKey?: string;
  fromBlock: number;
  pollMs: number;
  paymentWindowMs: number;
  minPaidSeconds: number;
  /** The deposit asked for a rental with no duration limit. */
  defaultPaidSeconds: number;
  /** The chain's native currency, as amounts are shown ("ETH", "POL"); a token escrow shows its token's symbol. */
  currencySymbol: string;
}

export interface RentalTimings {
  /** Nodes whose NVIDIA Container Toolkit has a known container escape get no rentals. */
  toolkit: ToolkitPolicy;
  /** How long the hub waits for word of a start (the node's answer, or image pull progress) before failing it. */
  startSilenceMs: number;
  /** How long it waits for a node's answer to a stop or logs request. */
  commandTimeoutMs: number;
  /** The longest single wait of a duration-limit timer (setTimeout's own limit); a longer limit re-arms it. */
  longestTimerMs: number;
}

export interface RateLimit {
  perMinute: number;
  burst: number;
}

export const defaultHubOptions: HubOptions = {
  dataDir: "./hub-data",
  grpcListen: { host: "", port: 8443 },
  httpListen: { host: "", port: 8080 },
  publicHosts: ["localhost", "127.0.0.1", "::1", hostname()],
  chainId: 1,
  insecureHttp: false,
  certLifetimeMs: 7 * 24 * 3_600_000,
  hubCertLifetimeMs: 90 * 24 * 3_600_000,
  heartbeatIntervalMs: 30_000,
  offlineAfterMissed: 3,
  heartbeatFlushMs: 5_000,
  nonceTtlMs: 5 * 60_000,
  // A browser session: the dashboard signs in once a working day.
  tokenTtlMs: 12 * 3_600_000,
  signInLimits: { perIp: { perMinute: 60, burst: 30 }, perAddress: { perMinute: 10, burst: 5 } },
  metricsListen: { host: "127.0.0.1", port: 9465 },
  accessRefreshMs: 5_000,
  announce: false,
  trustedProxies: [],
  connectionLimits: defaultConnectionLimits,
  rentals: { startSilenceMs: 15 * 60_000, commandTimeoutMs: 60_000, longestTimerMs: 2 ** 31 - 1, toolkit: { minimum: SAFE_CONTAINER_TOOLKIT, exempt: [] } },
};
