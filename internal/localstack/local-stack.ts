import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Wallet } from "ethers";
import { type RunningAnvil, startAnvil } from "../chain/anvil.js";
import { deployEscrow } from "../chain/deploy-escrow.js";
import { reserveFreePort } from "../util/net.js";
import { JsonLogChild, type LogLine } from "./child.js";

export interface LocalStackOptions {
  /** Wiped and recreated at every start. */
  dir: string;
  hubScript: string;
  daemonScript: string;
  print: (line: string) => void;
  /** Paid rentals on a local chain: anvil, the escrow deployed, a renter and a provider wallet funded. */
  chain?: boolean;
}

const LEVELS: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO ", 40: "WARN ", 50: "ERROR", 60: "FATAL" };

/** A hub and one daemon on loopback, wired together the way a provider would: pinned CA, key file, fresh state. */
export class LocalStack {
  private hub?: JsonLogChild;
  private daemon?: JsonLogChild;
  private anvil?: RunningAnvil;

  constructor(private readonly opts: LocalStackOptions) {}

  async start(): Promise<void> {
    const { dir, print } = this.opts;
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const chain = this.opts.chain ? await this.startChain() : undefined;
    // With a chain, anvil's funded account 2 is the provider: it can pay the gas to withdraw its earnings.
    const wallet = chain ? new Wallet(chain.anvil.devKey(2)) : Wallet.createRandom();
    const keyFile = await writeKey(dir, "dev-wallet.key", wallet.privateKey);
    print(`local stack in ${dir}; dev wallet ${wallet.address} (throwaway key in ${keyFile})`);

    const [grpcPort, httpPort, apiPort, hubMetricsPort, nodeMetricsPort] = await Promise.all([portOr(8443), portOr(8080), portOr(8444), portOr(9465), portOr(9464)]);
    let ready: (line: LogLine) => void = () => {};
    const hubReady = new Promise<LogLine>((resolve) => (ready = resolve));
    this.hub = new JsonLogChild(
      this.opts.hubScript,
      ["--data-dir", join(dir, "hub"), "--grpc-listen", `127.0.0.1:${grpcPort}`, "--http-listen", `127.0.0.1:${httpPort}`, "--public-host", "127.0.0.1,localhost", "--metrics-listen", `127.0.0.1:${hubMetricsPort}`, ...(chain?.hubArgs ?? [])],
      (line) => {
        this.show("hub ", line);
        if (line.event === "ready") ready(line);
      },
    );
    const hubInfo = await Promise.race([hubReady, this.hub.exited.then((code) => Promise.reject(new Error(`rental-hub exited (${code}) before it was ready`)))]);

    this.daemon = new JsonLogChild(
      this.opts.daemonScript,
      [
        "--hub", `127.0.0.1:${grpcPort}`,
        "--hub-http", String(hubInfo.httpUrl),
        "--hub-ca-fingerprint", String(hubInfo.caFingerprint),
        "--host", "127.0.0.1",
        "--private-key-file", keyFile,
        "--cert-dir", join(dir, "node", "certs"),
        "--state-dir", join(dir, "node", "state"),
        "--ssh-listen-host", "127.0.0.1",
        "--api-port", String(apiPort),
        "--api-listen-host", "127.0.0.1",
        "--metrics-listen", `127.0.0.1:${nodeMetricsPort}`,
      ],
      (line) => this.show("node", line),
    );
    if (chain) {
      print(`paid rentals on a local chain (${chain.anvil.rpcUrl}, chain 31337): escrow ${chain.escrow}; a funding counts after 2 blocks (a block a second)`);
      print(`renter wallet ${chain.renter.address} holds 10000 test ether: gpu-rent login --hub-http ${String(hubInfo.httpUrl)} --key-file ${chain.renterKeyFile}, then gpu-rent rent ... pays for itself`);
    }
  }

  private async startChain(): Promise<{ anvil: RunningAnvil; escrow: string; hubArgs: string[]; renter: Wallet; renterKeyFile: string }> {
    const { dir } = this.opts;
    const anvil = (this.anvil = await startAnvil({ port: await portOr(8545), blockTimeSeconds: 1 }));
    const operatorKey = anvil.devKey(0);
    const deployed = await deployEscrow({ rpcUrl: anvil.rpcUrl, deployerKey: operatorKey, reclaimDelaySeconds: 600 });
    const operatorKeyFile = await writeKey(dir, "operator.key", operatorKey);
    const renter = new Wallet(anvil.devKey(1));
    const renterKeyFile = await writeKey(dir, "renter.key", renter.privateKey);
    const hubArgs = [
      "--chain-id", String(anvil.chainId),
      "--chain-rpc", anvil.rpcUrl,
      "--chain-public-rpc", anvil.rpcUrl,
      "--escrow-address", deployed.address,
      "--escrow-from-block", String(deployed.blockNumber),
      "--chain-confirmations", "2",
      "--chain-poll", "500ms",
      "--operator-key-file", operatorKeyFile,
    ];
    return { anvil, escrow: deployed.address, hubArgs, renter, renterKeyFile };
  }

  /** Resolves with the exit code of whichever child ends first (they should not, until stop()). */
  async firstExit(): Promise<{ who: string; code: number | null }> {
    const watch = (who: string, child?: JsonLogChild) => (child ? child.exited.then((code) => ({ who, code })) : new Promise<never>(() => {}));
    return Promise.race([watch("rental-hub", this.hub), watch("node-daemon", this.daemon)]);
  }

  /** The daemon first, so it is not left reconnecting to a hub that is gone. */
  async stop(): Promise<void> {
    await this.daemon?.stop();
    await this.hub?.stop();
    await this.anvil?.stop();
  }

  private show(who: string, line: LogLine): void {
    if (line.level < 30) return;
    const time = typeof line.time === "number" ? new Date(line.time).toISOString().slice(11, 19) : "        ";
    this.opts.print(`${time} [${who}] ${LEVELS[line.level] ?? "INFO "} ${line.msg}`);
  }
}

async function writeKey(dir: string, name: string, key: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, key, { mode: 0o600 });
  await chmod(file, 0o600);
  return file;
}

/** The embedded default port when it is free, else any free port (a hub may already run here). */
async function portOr(preferred: number): Promise<number> {
  try {
    const { createServer } = await import("node:net");
    await new Promise<void>((resolve, reject) => {
      const s = createServer().once("error", reject).listen(preferred, "127.0.0.1", () => s.close(() => resolve()));
    });
    return preferred;
  } catch {
    return reserveFreePort("127.0.0.1");
  }
}
