import { homedir } from "node:os";
import { join } from "node:path";
import { type HostPort, parseHostPort } from "../grpc/host-port.js";

export interface DaemonOptions {
  /** The hub's gRPC address (mTLS), host:port. */
  hub: string;
  /** The hub's REST base URL; derived from -hub when absent. */
  hubHttp?: string;
  /** The address renters reach this machine on. */
  host?: string;
  siweDomain?: string;
  /** Absent: the chain the hub names when it hands out a sign-in nonce. */
  chainId?: number;
  /** sha256:... of the hub CA; without it the CA is trusted on first use. */
  hubCaFingerprint?: string;
  /** Allow a plain-HTTP hub URL (local testing only). */
  insecureHttp: boolean;
  certDir: string;
  apiPort: number;
  apiListenHost: string;
  pricePerSecWei: string;
  gpuType?: string;
  memoryGb?: number;
  nvmlLibrary?: string;
  enableMining: boolean;
  miningImage: string;
  miningDataDir: string;
  privateKeyFile?: string;
  /** The key itself, and where it was given (a flag is visible in ps: warned about). */
  privateKey?: { value: string; from: "flag" | "env" | "file" };
  /** SSH host key, sftp helper, rental password hashes. */
  stateDir: string;
  /** Host ports for rentals' SSH access. */
  sshPorts: { first: number; last: number };
  sshListenHost: string;
  /** embedded: rentals' SSH listeners in the daemon (a restart ends sessions); external: in node-ssh-gateway. */
  sshGateway: "embedded" | "external";
  /** A pull with no progress for this long is abandoned. */
  pullStallTimeoutMs: number;
  /** A finished batch job's container (and its logs) is removed this long after it ended. */
  endedRetentionMs: number;
  /** Images pulled in the background at start. */
  prepull: string[];
  miningArgs: string[];
  miningEnv: { name: string; value: string }[];
  /** Each rental on a network of its own, firewalled (where this daemon can manage iptables). */
  rentalIsolation: boolean;
  /** IPv4 CIDRs rentals may reach despite the block on private, link-local and metadata ranges. */
  rentalEgressAllow: string[];
  /** Limit of each rental's writable layer, where the storage driver enforces one; none when absent. */
  rentalDiskLimitBytes?: number;
  /** Docker's socket; /var/run/docker.sock when absent. */
  dockerSocket?: string;
  /** Prometheus /metrics (plain HTTP); absent = no metrics. */
  metricsListen?: HostPort;
  /** Where systemd/install.sh lays out versions/ and current: the daemon confirms an update there once it reaches the hub. */
  installRoot: string;
}

/** The hub serves REST on this port unless -hub-http says otherwise. */
export const DEFAULT_HUB_HTTP_PORT = 8080;

/** -hub-http, or https://<-hub's host>:8080. */
export function hubHttpBaseUrl(opts: Pick<DaemonOptions, "hub" | "hubHttp">): string {
  if (opts.hubHttp) return opts.hubHttp;
  const grpc = parseHostPort(opts.hub, "-hub");
  return `https://${grpc.host.includes(":") ? `[${grpc.host}]` : grpc.host || "localhost"}:${DEFAULT_HUB_HTTP_PORT}`;
}

/** systemd's StateDirectory= when run as a unit, else the user's state folder. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.STATE_DIRECTORY) return env.STATE_DIRECTORY.split(":")[0] ?? env.STATE_DIRECTORY;
  return join(env.XDG_STATE_HOME ?? join(homedir(), ".local", "state"), "node-daemon");
}

/** <state dir>/certs (the seed used ~/.worldland/certs). */
export function defaultCertDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(defaultStateDir(env), "certs");
}

export const defaultDaemonOptions: DaemonOptions = {
  hub: "localhost:8443",
  chainId: undefined,
  insecureHttp: false,
  certDir: defaultCertDir(),
  apiPort: 8444,
  apiListenHost: "0.0.0.0",
  pricePerSecWei: "1000000000",
  enableMining: true,
  miningImage: "mingeyom/worldland-mio:latest",
  miningDataDir: "/data/worldland",
  stateDir: defaultStateDir(),
  sshPorts: { first: 2200, last: 2299 },
  sshListenHost: "0.0.0.0",
  sshGateway: "embedded",
  pullStallTimeoutMs: 120_000,
  endedRetentionMs: 24 * 3_600_000,
  prepull: [],
  miningArgs: [],
  miningEnv: [],
  rentalIsolation: true,
  rentalEgressAllow: [],
  metricsListen: { host: "127.0.0.1", port: 9464 },
  installRoot: "/opt/node-daemon",
};

/** <state dir>/control.sock: `node-daemon status|drain|undrain` talk to the daemon here. */
export function controlSocketPath(stateDir: string): string {
  return join(stateDir, "control.sock");
}

/** -hub auto: the daemon finds the hub on the LAN (mDNS). */
export const HUB_AUTO = "auto";
