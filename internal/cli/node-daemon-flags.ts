import { join } from "node:path";
import { Command, Option } from "commander";
import { type DaemonOptions, defaultDaemonOptions } from "../daemon/options.js";
import { PRIVATE_KEY_ENV } from "../wallet/private-key.js";
import { addLogFlags, type LogFlags, logFlags } from "./log-flags.js";
import { duration, envEntry, goBool, intIn, portRange, positiveNumber, weiAmount } from "./parsers.js";

export interface NodeDaemonArgs {
  daemon: DaemonOptions;
  log: LogFlags;
}

/** The flag table: the Go daemon's flags with their meanings and defaults, plus ours. */
export function nodeDaemonProgram(): Command {
  const d = defaultDaemonOptions;
  const cmd = new Command("node-daemon")
    .description("GPU rental node daemon: signs in to the hub with an Ethereum wallet, holds an mTLS channel, heartbeats GPU metrics.\nFlags take one dash or two: -hub x, -hub=x and --hub x are the same.")
    .option("--hub <host:port>", "hub gRPC (mTLS) address", d.hub)
    .option("--hub-http <url>", "hub REST URL (default: https://<hub host>:8080)")
    .option("--host <address>", "address renters reach this machine on (default: first non-loopback IPv4)")
    .option("--private-key <hex>", `wallet key on the command line (visible in ps: prefer --private-key-file or $${PRIVATE_KEY_ENV})`)
    .option("--private-key-file <path>", "file holding the wallet's private key (mode 0600)")
    .option("--siwe-domain <domain>", "EIP-4361 domain to sign in for (default: host:port of --hub-http)")
    .option("--chain-id <id>", "EIP-155 chain id in the sign-in message", intIn(1, 2 ** 53 - 1), d.chainId)
    .option("--hub-ca-fingerprint <sha256:hex>", "pin the hub CA (the hub prints it at start); without it, trust on first use")
    .option("--insecure-http", "allow a plain-HTTP --hub-http (local testing only)", false)
    .option("--enable-mining [bool]", "run the idle mining workload on free GPUs", goBool, d.enableMining)
    .option("--mining-image <image>", "mining container image", d.miningImage)
    .option("--mining-data-dir <path>", "mining data folder", d.miningDataDir)
    .option("--api-port <port>", "node API port (mTLS, hub identity only); 0 picks a free port", intIn(0, 65535), d.apiPort)
    .option("--cert-dir <path>", "where the node key, certificates and node id are kept (default: <state dir>/certs)")
    .option("--state-dir <path>", "daemon state: SSH host key, sftp helper, rental password hashes", d.stateDir)
    .option("--ssh-ports <first-last>", "host ports for rentals' SSH access", portRange, d.sshPorts)
    .option("--ssh-listen-host <address>", "interface rentals' SSH listens on", d.sshListenHost)
    .option("--pull-stall-timeout <duration>", "abandon an image pull after this long without progress", duration, d.pullStallTimeoutMs)
    .option("--prepull <images>", "comma-separated images to pull in the background at start", (v: string) => v.split(",").map((s) => s.trim()).filter(Boolean), d.prepull)
    .option("--mining-args <args>", "extra arguments for the miner, space-separated", (v: string) => v.split(/\s+/).filter(Boolean), d.miningArgs)
    .option("--mining-env <NAME=VALUE>", "environment for the miner (repeat the flag for more)", envEntry, [] as { name: string; value: string }[])
    .option("--docker-socket <path>", "Docker engine socket (default /var/run/docker.sock)")
    .option("--gpu-type <name>", "advertise this GPU model instead of the detected one")
    .option("--memory-gb <GiB>", "advertise this much memory per GPU instead of the detected amount", positiveNumber)
    .option("--price-per-sec <wei>", "rental price per second in wei (any size)", weiAmount, d.pricePerSecWei)
    .option("--nvml-library <path>", "libnvidia-ml to load (default: $NODE_DAEMON_NVML_LIBRARY or the system's libnvidia-ml.so.1)")
    .addOption(new Option("--api-listen-host <address>", "interface the node API listens on").default(d.apiListenHost));
  return addLogFlags(cmd).allowExcessArguments(false);
}

export function toNodeDaemonArgs(raw: Record<string, unknown>): NodeDaemonArgs {
  const s = (k: string): string | undefined => (typeof raw[k] === "string" && raw[k] !== "" ? (raw[k] as string) : undefined);
  return {
    daemon: {
      hub: raw.hub as string,
      hubHttp: s("hubHttp"),
      host: s("host"),
      siweDomain: s("siweDomain"),
      chainId: raw.chainId as number,
      hubCaFingerprint: s("hubCaFingerprint"),
      insecureHttp: raw.insecureHttp === true,
      certDir: s("certDir") ?? join(raw.stateDir as string, "certs"),
      stateDir: raw.stateDir as string,
      sshPorts: raw.sshPorts as DaemonOptions["sshPorts"],
      sshListenHost: raw.sshListenHost as string,
      pullStallTimeoutMs: raw.pullStallTimeout as number,
      prepull: raw.prepull as string[],
      miningArgs: raw.miningArgs as string[],
      miningEnv: raw.miningEnv as { name: string; value: string }[],
      dockerSocket: s("dockerSocket"),
      apiPort: raw.apiPort as number,
      apiListenHost: raw.apiListenHost as string,
      pricePerSecWei: raw.pricePerSec as string,
      gpuType: s("gpuType"),
      memoryGb: raw.memoryGb as number | undefined,
      nvmlLibrary: s("nvmlLibrary"),
      enableMining: raw.enableMining !== false,
      miningImage: raw.miningImage as string,
      miningDataDir: raw.miningDataDir as string,
      privateKeyFile: s("privateKeyFile"),
      privateKey: s("privateKey"),
    },
    log: logFlags(raw),
  };
}
