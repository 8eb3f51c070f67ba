import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { HDNodeWallet, Mnemonic } from "ethers";
import { ChainError } from "./chain-error.js";

/** anvil's well-known development mnemonic: its accounts are funded at start. Never use them on a real chain. */
export const ANVIL_MNEMONIC = "test test test test test test test test test test test junk";

/**
 * Historical states anvil keeps, in memory only (--prune-history). By default anvil writes every
 * state past its in-memory limit to ~/.foundry/anvil/tmp and leaves them there when it exits: about
 * 2.5 MB a second at the tests' 0.1 s blocks, so a test run that is killed (its anvil orphaned) or a
 * local stack left running fills the disk. Nothing here reads state older than a few blocks.
 */
export const KEPT_STATES = 256;

export interface AnvilOptions {
  /** 0: any free port (anvil prints which). */
  port?: number;
  /** Mine a block every this many seconds; absent, a block per transaction (tests mine by hand). */
  blockTimeSeconds?: number;
  /** Keep the chain in this file across restarts (anvil --state): loaded at start, written on exit. */
  statePath?: string;
  signal?: AbortSignal;
}

export interface RunningAnvil {
  rpcUrl: string;
  port: number;
  chainId: number;
  /** The private key of development account `index` (0-9), each holding 10,000 ether at start. */
  devKey(index: number): string;
  stop(): Promise<void>;
}

/**
 * A local EVM chain from npm (`@foundry-rs/anvil` ships the Linux binary as an optional package):
 * offline, for the local stack's paid rentals and for tests against a real chain.
 */
export async function startAnvil(opts: AnvilOptions = {}): Promise<RunningAnvil> {
  const args = ["--port", String(opts.port ?? 0), "--host", "127.0.0.1", "--mnemonic", ANVIL_MNEMONIC, "--accounts", "10", "--prune-history", String(KEPT_STATES)];
  if (opts.blockTimeSeconds) args.push("--block-time", String(opts.blockTimeSeconds));
  if (opts.statePath) args.push("--state", opts.statePath);
  const proc = spawn(anvilBinary(), args, { stdio: ["ignore", "pipe", "pipe"] });
  const onAbort = (): void => void proc.kill("SIGKILL");
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const port = await listeningPort(proc);
    const mnemonic = Mnemonic.fromPhrase(ANVIL_MNEMONIC);
    return {
      rpcUrl: `http://127.0.0.1:${port}`,
      port,
      chainId: 31337,
      devKey: (index) => HDNodeWallet.fromMnemonic(mnemonic, `m/44'/60'/0'/0/${index}`).privateKey,
      stop: () => stop(proc),
    };
  } catch (err) {
    await stop(proc);
    throw err;
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
  }
}

function anvilBinary(): string {
  const require = createRequire(import.meta.url);
  const pkg = `@foundry-rs/anvil-${process.platform}-${process.arch === "x64" ? "amd64" : process.arch}`;
  try {
    return join(dirname(require.resolve(`${pkg}/package.json`)), "bin", "anvil");
  } catch {
    throw new ChainError("anvil_missing", `${pkg} is not installed: run npm ci (anvil comes with the development dependencies)`);
  }
}

function listeningPort(proc: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let said = "";
    const lines = createInterface({ input: proc.stdout! });
    lines.on("line", (line) => {
      said = `${said}${line}\n`.slice(-2_000);
      const m = /^Listening on [^\s]+:(\d+)$/.exec(line.trim());
      if (m) resolve(Number(m[1]));
    });
    proc.stderr!.on("data", (d: Buffer) => (said = `${said}${d.toString()}`.slice(-2_000)));
    proc.once("error", (err) => reject(new ChainError("anvil_failed", `anvil did not start: ${err.message}`)));
    proc.once("exit", (code) => reject(new ChainError("anvil_failed", `anvil exited (${code}) before it listened:\n${said}`)));
  });
}

function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    proc.once("exit", () => resolve());
    proc.kill("SIGTERM");
  });
}
