import { join } from "node:path";
import { Command } from "commander";
import { VERSION } from "../version.js";
import { type DaemonOptions, defaultDaemonOptions } from "../daemon/options.js";
import { dialAddress, fingerprint, hostName, httpUrl, optional, siweDomain } from "./address-parsers.js";
import { addFlagTable, bool, envPairs, type FlagValues, list, oneOf, parsed, text } from "./flag-table.js";
import { type LogFlags, logFlags, logFlagTable } from "./log-flags.js";
import { commaList, duration, intIn, ipv4Cidr, optionalByteSize, optionalHostPort, portRange, positiveNumber, spaceList, weiAmount } from "./parsers.js";
import { ConfigError, type Resolved, resolveSettings, whereSet } from "./settings.js";

export const NODE_DAEMON_ENV_PREFIX = "NODE_DAEMON_";
/** Read by systemd's unit (ExecStart=... $NODE_DAEMON_ARGS), not by the daemon: not a setting, not refused. */
const NODE_DAEMON_ENV_ALLOWED = ["NODE_DAEMON_ARGS"];

const d = defaultDaemonOptions;

/**
 * Every node-daemon setting, once: the flag `--<kebab key>`, the config-file key `<kebab key>`,
 * the variable `NODE_DAEMON_<KEY>`, --help and the README table all come from here.
 */
export const nodeDaemonFlags = {
  config: text({ value: "path", help: "TOML config file: any setting below by its flag name (flags and environment override it)", notInFile: true }),
  hub: parsed({ value: "host:port", help: "hub gRPC (mTLS) address, or auto: find the hub on the LAN (one started with -announce; its CA must match -hub-ca-fingerprint when given)", default: d.hub, parse: (v) => (v.trim() === "auto" ? "auto" : dialAddress(v)) }),
  hubHttp: parsed({ value: "url", help: "hub REST URL (scheme, host and port)", default: undefined, defaultText: "`https://<hub host>:8080`", parse: optional(httpUrl) }),
  host: parsed({ value: "address", help: "address renters reach this machine on (DNS name or IP)", default: undefined, defaultText: "first non-loopback IPv4 (warns)", parse: optional(hostName) }),
  privateKeyFile: text({ value: "path", help: "file holding the wallet's private key; refused unless mode 0600" }),
  privateKey: text({ value: "hex", help: "the wallet key itself; as a flag it is visible in ps (warned about): prefer the file or the environment", secret: true }),
  siweDomain: parsed({ value: "domain", help: "EIP-4361 domain to sign in for (host or host:port); must equal the hub's", default: undefined, defaultText: "the domain the hub names when asked for a nonce", parse: optional(siweDomain) }),
  chainId: parsed({ value: "id", help: "EIP-155 chain id in the sign-in message", default: d.chainId, defaultText: "the hub's (from its sign-in nonce)", parse: optional(intIn(1, 2 ** 53 - 1)), numbers: true }),
  hubCaFingerprint: parsed({ value: "sha256:hex", help: "pin the hub CA (the hub prints it at start); without it the first CA seen is trusted and remembered", default: undefined, parse: optional(fingerprint) }),
  insecureHttp: bool({ help: "allow a plain-HTTP hub-http (local testing only)", default: d.insecureHttp }),
  enableMining: bool({ help: "run the idle mining workload on free GPUs", default: d.enableMining }),
  miningImage: text({ value: "image", help: "mining container image", default: d.miningImage }),
  miningDataDir: text({ value: "path", help: "mining data folder", default: d.miningDataDir }),
  miningArgs: list({ value: "args", help: "extra arguments for the miner (space-separated; a list in the file)", default: d.miningArgs, split: spaceList }),
  miningEnv: envPairs({ value: "NAME=VALUE", help: "environment for the miner: repeat the flag; one pair a line in the variable; a table in the file" }),
  apiPort: parsed({ value: "port", help: "node API port (mTLS, hub identity only); 0 picks a free port", default: d.apiPort, parse: intIn(0, 65535), numbers: true }),
  apiListenHost: text({ value: "address", help: "interface the node API listens on", default: d.apiListenHost }),
  certDir: text({ value: "path", help: "node key (0600), certificates, CA and node id", defaultText: "`<state-dir>/certs`" }),
  stateDir: text({ value: "path", help: "daemon state: control socket, draining flag, SSH host key, sftp helper, rental password hashes", default: d.stateDir, defaultText: "`$STATE_DIRECTORY`, else `~/.local/state/node-daemon`" }),
  sshPorts: parsed({ value: "first-last", help: "host ports for rentals' SSH access", default: d.sshPorts, parse: portRange }),
  sshListenHost: text({ value: "address", help: "interface rentals' SSH listens on", default: d.sshListenHost }),
  sshGateway: oneOf({ value: "mode", help: "who runs rentals' SSH listeners and sessions: embedded, this process (a daemon restart ends renters' sessions); external, node-ssh-gateway (its own unit; restarts and upgrades of the daemon keep sessions)", choices: ["embedded", "external"] as const, default: d.sshGateway }),
  pullStallTimeout: parsed({ value: "duration", help: "abandon an image pull after this long without progress", default: d.pullStallTimeoutMs, defaultText: "`2m`", parse: duration }),
  endedRetention: parsed({ value: "duration", help: "remove a finished batch job's container (and its logs) this long after it ended", default: d.endedRetentionMs, defaultText: "`24h`", parse: duration }),
  prepull: list({ value: "images", help: "images to pull in the background at start (comma-separated; a list in the file)", default: d.prepull, split: commaList }),
  rentalIsolation: bool({ help: "give each rental a network of its own, firewalled from other rentals, this host and private, link-local and metadata addresses (needs root or CAP_NET_ADMIN and iptables; without them rentals run unisolated and the notices say so)", default: d.rentalIsolation }),
  rentalEgressAllow: list({ value: "cidrs", help: "IPv4 CIDRs rentals may reach despite the block on private ranges and this host (comma-separated; a list in the file)", default: d.rentalEgressAllow, split: commaList, each: ipv4Cidr }),
  rentalDiskLimit: parsed<number | undefined>({ value: "size", help: "limit of each rental's writable layer (e.g. 100G); only where the storage driver enforces it (overlay2 on xfs with pquota), else the notices say it is not", default: undefined, defaultText: "none", parse: optionalByteSize }),
  dockerSocket: text({ value: "path", help: "Docker engine socket", defaultText: "`/var/run/docker.sock`" }),
  gpuType: text({ value: "name", help: "advertise this GPU model instead of the detected one", defaultText: "detected" }),
  memoryGb: parsed<number | undefined>({ value: "GiB", help: "advertise this much memory per GPU instead of the detected amount", default: undefined, defaultText: "detected", parse: positiveNumber, numbers: true }),
  pricePerSec: parsed({ value: "wei", help: "rental price per second in wei, any size (a string in the file when above 2^53)", default: d.pricePerSecWei, parse: weiAmount, numbers: true }),
  nvmlLibrary: text({ value: "path", help: "libnvidia-ml to load", defaultText: "`libnvidia-ml.so.1`" }),
  metricsListen: parsed({ value: "host:port", help: "Prometheus /metrics over plain HTTP; empty turns it off", default: d.metricsListen, defaultText: "`127.0.0.1:9464`", parse: optionalHostPort }),
  installRoot: text({ value: "path", help: "where versions/<version>, the current link and updates/ live (systemd/install.sh lays them out): node-daemon update installs there, and the daemon confirms an update once it reaches the hub", default: d.installRoot }),
  releasePublicKeyFile: text({ value: "path", help: "the release public key (release.pub from rental-hub release keygen) node-daemon update trusts; updates are refused without it" }),
  restartCommand: text({ value: "command", help: "how node-daemon update restarts the daemon after switching versions (run by /bin/sh)", default: "systemctl restart node-daemon" }),
  updateConfirmTimeout: parsed({ value: "duration", help: "how long a new version has to reach the hub after node-daemon update switches to it, before the previous version is put back", default: 60_000, defaultText: "`1m`", parse: duration }),
  ...logFlagTable,
};

export type NodeDaemonSettings = FlagValues<typeof nodeDaemonFlags>;

export interface NodeDaemonArgs {
  daemon: DaemonOptions;
  /** What `node-daemon update` needs beyond the daemon's own settings. */
  update: { releasePublicKeyFile?: string; restartCommand: string; confirmTimeoutMs: number };
  log: LogFlags;
}

export function nodeDaemonProgram(): Command {
  const cmd = new Command("node-daemon").description(
    "GPU rental node daemon: signs in to the hub with an Ethereum wallet, holds an mTLS channel, heartbeats GPU metrics, runs rentals.\n\n" +
      "Flags take one dash or two: -hub x, -hub=x and --hub x are the same. Each flag is also a key of the -config file (TOML) " +
      `and an environment variable ${NODE_DAEMON_ENV_PREFIX}<FLAG> (e.g. ${NODE_DAEMON_ENV_PREFIX}HUB); flags beat the environment, which beats the file.`,
  );
  cmd.version(VERSION, "-V, --version", "print the version and exit");
  return addFlagTable(cmd, nodeDaemonFlags, NODE_DAEMON_ENV_PREFIX);
}

/** Flags (what commander parsed) over the environment over the config file over defaults. */
export async function resolveNodeDaemonSettings(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Promise<Resolved<typeof nodeDaemonFlags>> {
  const r = await resolveSettings(nodeDaemonFlags, { flags, env, envPrefix: NODE_DAEMON_ENV_PREFIX, envAllowed: NODE_DAEMON_ENV_ALLOWED, configKey: "config" });
  // Checked here, not in NodeDaemon, so it is refused like any other bad value (exit 2, where it was set).
  if (r.values.hubHttp?.startsWith("http:") && !r.values.insecureHttp) {
    throw new ConfigError(
      `${whereSet(nodeDaemonFlags, "hubHttp", r, NODE_DAEMON_ENV_PREFIX)}: ${r.values.hubHttp} is plain HTTP: the sign-in and the node certificate would cross the network unprotected; use https://, or add -insecure-http for a hub on this machine`,
    );
  }
  return r;
}

export function toNodeDaemonArgs({ values: v, sources }: Resolved<typeof nodeDaemonFlags>): NodeDaemonArgs {
  const s = (x: string | undefined): string | undefined => (x === "" ? undefined : x);
  const keySource = sources.privateKey;
  return {
    daemon: {
      hub: v.hub,
      hubHttp: s(v.hubHttp),
      host: s(v.host),
      siweDomain: s(v.siweDomain),
      chainId: v.chainId,
      hubCaFingerprint: s(v.hubCaFingerprint),
      insecureHttp: v.insecureHttp,
      certDir: s(v.certDir) ?? join(v.stateDir, "certs"),
      stateDir: v.stateDir,
      sshPorts: v.sshPorts,
      sshListenHost: v.sshListenHost,
      sshGateway: v.sshGateway,
      pullStallTimeoutMs: v.pullStallTimeout,
      endedRetentionMs: v.endedRetention,
      prepull: v.prepull,
      miningArgs: v.miningArgs,
      miningEnv: v.miningEnv,
      rentalIsolation: v.rentalIsolation,
      rentalEgressAllow: v.rentalEgressAllow,
      ...(v.rentalDiskLimit ? { rentalDiskLimitBytes: v.rentalDiskLimit } : {}),
      dockerSocket: s(v.dockerSocket),
      apiPort: v.apiPort,
      apiListenHost: v.apiListenHost,
      pricePerSecWei: v.pricePerSec,
      gpuType: s(v.gpuType),
      memoryGb: v.memoryGb,
      nvmlLibrary: s(v.nvmlLibrary),
      enableMining: v.enableMining,
      miningImage: v.miningImage,
      miningDataDir: v.miningDataDir,
      privateKeyFile: s(v.privateKeyFile),
      ...(v.privateKey && keySource !== "default" ? { privateKey: { value: v.privateKey, from: keySource } } : {}),
      metricsListen: v.metricsListen,
      installRoot: v.installRoot,
    },
    update: { releasePublicKeyFile: s(v.releasePublicKeyFile), restartCommand: v.restartCommand, confirmTimeoutMs: v.updateConfirmTimeout },
    log: logFlags(v),
  };
}
