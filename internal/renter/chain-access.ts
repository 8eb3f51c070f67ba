import type { Command } from "commander";
import { type BaseWallet, JsonRpcProvider, Network } from "ethers";
import { escrowInterface } from "../chain/ethers-escrow.js";
import { CliError } from "./cli-error.js";
import type { HubApi } from "./hub-api.js";
import type { Session } from "./session-store.js";
import { loadRenterWallet, type WalletOptions } from "./wallet-source.js";

export const CHAIN_RPC_ENV = "GPU_RENT_CHAIN_RPC";

/** How a command that pays reaches the chain: which wallet signs, and which RPC carries it. */
export interface PayOptions extends WalletOptions {
  chainRpc?: string;
}

/** Where the hub takes payments, as GET /v1/chain says. */
export interface ChainPlace {
  payments: boolean;
  chainId: number;
  escrowAddress: string;
  publicRpcUrl: string;
  confirmations: number;
}

/** --key-file, --keystore and --chain-rpc, for every command that sends a transaction. */
export function payOptions(cmd: Command): Command {
  return cmd
    .option("--key-file <path>", "the paying wallet's key (mode 0600); default: the wallet gpu-rent login used, else $GPU_RENT_PRIVATE_KEY")
    .option("--keystore <path>", "pay from an ethers/geth encrypted JSON keystore instead (password asked, or $GPU_RENT_KEYSTORE_PASSWORD)")
    .option("--chain-rpc <url>", `JSON-RPC URL to send through (or $${CHAIN_RPC_ENV}); default: the one the hub names`);
}

/** The wallet that pays: --key-file or --keystore, else the one login read, else $GPU_RENT_PRIVATE_KEY. */
export function payingWallet(o: PayOptions, s: Session): Promise<BaseWallet> {
  const given = o.keyFile || o.keystore ? o : s;
  return loadRenterWallet({ ...(given.keyFile ? { keyFile: given.keyFile } : {}), ...(given.keystore ? { keystore: given.keystore } : {}) });
}

/** GET /v1/chain; a hub that takes no payments is a refusal for commands that need one. */
export async function chainPlace(api: HubApi, hubHttp: string): Promise<ChainPlace> {
  const place = await api.call<ChainPlace>("GET", "/v1/chain");
  if (!place.payments) throw new CliError("no_payments", `the hub at ${hubHttp} takes no payments: its rentals are free`);
  return place;
}

/**
 * A provider for the hub's chain through --chain-rpc, $GPU_RENT_CHAIN_RPC or the RPC the hub names,
 * refused unless that RPC serves the chain the hub takes payments on. Destroy it when done.
 */
export async function connectChain(o: PayOptions, hubRpcUrl: string, chainId: number, env: NodeJS.ProcessEnv = process.env): Promise<JsonRpcProvider> {
  const url = o.chainRpc || env[CHAIN_RPC_ENV] || hubRpcUrl;
  if (!url) throw new CliError("no_chain_rpc", `the hub names no RPC for chain ${chainId}: pass --chain-rpc URL or set $${CHAIN_RPC_ENV}`);
  let provider: JsonRpcProvider;
  try {
    provider = new JsonRpcProvider(url, Network.from(chainId), { staticNetwork: true, pollingInterval: 500 });
  } catch (err) {
    throw new CliError("chain_rpc", `the chain RPC ${rpcShown(url)} is not usable: ${chainMessage(err)}`);
  }
  try {
    const served = Number(await provider.send("eth_chainId", []));
    if (served !== chainId) throw new CliError("wrong_chain", `the RPC ${rpcShown(url)} serves chain ${served}, but the hub takes payments on chain ${chainId}: pass --chain-rpc with an RPC of chain ${chainId}`);
    return provider;
  } catch (err) {
    provider.destroy();
    if (err instanceof CliError) throw err;
    throw new CliError("chain_unreachable", `the chain RPC ${rpcShown(url)} did not answer: ${chainMessage(err)}`);
  }
}

/** An RPC URL may carry an API key in its path or query: only its origin is ever shown. */
function rpcShown(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "(not a URL)";
  }
}

/** A chain error in a line: the escrow's own error by name when it refused, never an RPC URL. */
export function chainMessage(err: unknown): string {
  const e = err as { shortMessage?: string; message?: string; data?: unknown; revert?: { name?: string; args?: unknown[] } };
  const revert = e.revert ?? (typeof e.data === "string" ? decodeRevert(e.data) : undefined);
  if (revert?.name) return `the escrow refused: ${revert.name}(${(revert.args ?? []).map(String).join(", ")})`;
  return (e.shortMessage ?? e.message ?? String(err)).replace(/\w+:\/\/\S+/g, "<chain-rpc>");
}

function decodeRevert(data: string): { name: string; args: unknown[] } | undefined {
  try {
    const parsed = escrowInterface.parseError(data);
    return parsed ? { name: parsed.name, args: [...parsed.args] } : undefined;
  } catch {
    return undefined;
  }
}
