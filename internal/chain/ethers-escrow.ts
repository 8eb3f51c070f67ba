import { Contract, Interface, JsonRpcProvider, Network, Transaction, Wallet, type Log } from "ethers";
import { ChainError } from "./chain-error.js";
import { untilAborted } from "../util/abort.js";
import { rentalEscrowAbi } from "./contracts/rental-escrow-artifact.js";
import type { EscrowChain, EscrowLog, LogPlace, MinedReceipt, OnChainRental, OperatorCall, SignedCall, TokenInfo } from "./escrow.js";

export const escrowInterface = new Interface(rentalEscrowAbi);

export interface EthersEscrowOptions {
  rpcUrl: string;
  chainId: number;
  address: string;
  /** The operator's private key; absent, the hub reads the chain but cannot settle. */
  operatorKey?: string;
}

/** The escrow over ethers' JSON-RPC provider: the only file that uses ethers' contract API. */
export class EthersEscrow implements EscrowChain {
  readonly address: string;
  readonly operator: string | null;
  private readonly provider: JsonRpcProvider;
  private readonly contract: Contract;
  private readonly wallet: Wallet | null;

  constructor(opts: EthersEscrowOptions) {
    // The network is given, not detected: a hub that starts while its RPC is down must not wait or spin on detection.
    this.provider = new JsonRpcProvider(opts.rpcUrl, Network.from(opts.chainId), { staticNetwork: true, batchMaxCount: 1, batchStallTime: 0 });
    this.address = opts.address;
    this.contract = new Contract(opts.address, rentalEscrowAbi, this.provider);
    this.wallet = opts.operatorKey ? new Wallet(opts.operatorKey, this.provider) : null;
    this.operator = this.wallet?.address ?? null;
  }

  async chainId(signal?: AbortSignal): Promise<number> {
    return Number(await abortable(this.provider.send("eth_chainId", []) as Promise<string>, signal));
  }

  async headBlock(signal?: AbortSignal): Promise<number> {
    return abortable(this.provider.getBlockNumber(), signal);
  }

  async blockHash(blockNumber: number, signal?: AbortSignal): Promise<string | null> {
    const block = await abortable(this.provider.getBlock(blockNumber), signal);
    return block?.hash ?? null;
  }

  async logs(fromBlock: number, toBlock: number, signal?: AbortSignal): Promise<EscrowLog[]> {
    const raw = await abortable(this.provider.getLogs({ address: this.address, fromBlock, toBlock }), signal);
    return raw.flatMap((log) => parseLog(log) ?? []);
  }

  async rental(rentalKey: string, signal?: AbortSignal): Promise<OnChainRental> {
    const r = (await abortable(this.contract.getFunction("rentals").staticCall(rentalKey), signal)) as [string, string, bigint, bigint, bigint, boolean, boolean];
    return { exists: BigInt(r[0]) !== 0n, renter: r[0], provider: r[1], pricePerSecWei: r[2], depositWei: r[3], started: r[5], closed: r[6] };
  }

  async token(signal?: AbortSignal): Promise<TokenInfo | null> {
    const address = (await abortable(this.contract.getFunction("token").staticCall(), signal)) as string;
    if (BigInt(address) === 0n) return null;
    // Symbol and decimals are optional in ERC-20: a token without them is shown by address, in its base unit.
    const token = new Contract(address, ["function symbol() view returns (string)", "function decimals() view returns (uint8)"], this.provider);
    const [symbol, decimals] = await Promise.all([
      abortable(token.getFunction("symbol").staticCall() as Promise<string>, signal).catch(() => address.slice(0, 10)),
      abortable(token.getFunction("decimals").staticCall() as Promise<bigint>, signal).catch(() => 0n),
    ]);
    return { address, symbol, decimals: Number(decimals) };
  }

  async balanceOf(account: string, signal?: AbortSignal): Promise<bigint> {
    return (await abortable(this.contract.getFunction("balanceOf").staticCall(account), signal)) as bigint;
  }

  async nextNonce(signal?: AbortSignal): Promise<number> {
    return abortable(this.provider.getTransactionCount(this.signer().address, "pending"), signal);
  }

  async minedNonce(signal?: AbortSignal): Promise<number> {
    return abortable(this.provider.getTransactionCount(this.signer().address, "latest"), signal);
  }

  async signCall(call: OperatorCall, nonce: number, signal?: AbortSignal): Promise<SignedCall> {
    const wallet = this.signer();
    const data = call.action === "start" ? escrowInterface.encodeFunctionData("markStarted", [call.rentalKey]) : escrowInterface.encodeFunctionData("settle", [call.rentalKey, call.secondsUsed]);
    const tx = await abortable(wallet.populateTransaction({ to: this.address, data, nonce }), signal);
    const rawTx = await wallet.signTransaction(tx);
    return { rawTx, txHash: Transaction.from(rawTx).hash ?? "", nonce };
  }

  async broadcast(rawTx: string, signal?: AbortSignal): Promise<"sent" | "known" | "nonce_taken"> {
    signal?.throwIfAborted();
    try {
      await this.provider.broadcastTransaction(rawTx);
      return "sent";
    } catch (err) {
      // The node's own words, before ethers wraps them ("could not coalesce error" says nothing).
      const said = rpcMessage(err);
      if (/already known|already imported/i.test(said)) return "known";
      if (/nonce too low|nonce has already been used|underpriced|replacement fee too low/i.test(said)) return "nonce_taken";
      throw new ChainError("chain_rpc", shortMessage(err));
    }
  }

  nonceOf(rawTx: string): number {
    return Transaction.from(rawTx).nonce;
  }

  async receipt(txHash: string, signal?: AbortSignal): Promise<MinedReceipt | null> {
    const r = await abortable(this.provider.getTransactionReceipt(txHash), signal);
    return r ? { blockNumber: r.blockNumber, reverted: r.status === 0 } : null;
  }

  close(): void {
    this.provider.destroy();
  }

  private signer(): Wallet {
    if (!this.wallet) throw new Error("no operator key: the hub cannot send transactions");
    return this.wallet;
  }
}

/** A log of the escrow as our own type; undefined for one it does not declare. */
export function parseLog(log: Log): EscrowLog | undefined {
  const parsed = escrowInterface.parseLog({ topics: [...log.topics], data: log.data });
  if (!parsed) return undefined;
  const at: LogPlace = { blockNumber: log.blockNumber, blockHash: log.blockHash, txHash: log.transactionHash, logIndex: log.index };
  const a = parsed.args;
  switch (parsed.name) {
    case "RentalOpened":
      return { ...at, kind: "opened", rentalKey: a[0] as string, renter: a[1] as string, provider: a[2] as string, pricePerSecWei: a[3] as bigint, depositWei: a[4] as bigint };
    case "RentalToppedUp":
      return { ...at, kind: "toppedUp", rentalKey: a[0] as string, from: a[1] as string, amountWei: a[2] as bigint, depositWei: a[3] as bigint };
    case "RentalStarted":
      return { ...at, kind: "started", rentalKey: a[0] as string };
    case "RentalSettled":
      return { ...at, kind: "settled", rentalKey: a[0] as string, secondsUsed: a[1] as bigint, providerWei: a[2] as bigint, refundWei: a[3] as bigint };
    case "RentalReclaimed":
      return { ...at, kind: "reclaimed", rentalKey: a[0] as string, amountWei: a[1] as bigint };
    case "Withdrawn":
      return { ...at, kind: "withdrawn", account: a[0] as string, amountWei: a[1] as bigint };
    default:
      return undefined;
  }
}

/**
 * ethers takes no AbortSignal: the caller stops waiting, the request finishes on its own. Its errors
 * are cut to their short message: the long one carries the request, and an RPC URL may hold an API key.
 */
function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  const guarded = p.catch((err: unknown) => {
    throw new ChainError("chain_rpc", shortMessage(err));
  });
  return untilAborted(guarded, signal);
}

function rpcMessage(err: unknown): string {
  const e = err as { error?: { message?: string }; info?: { error?: { message?: string } }; message?: string };
  return [e.error?.message, e.info?.error?.message, e.message].filter(Boolean).join("; ");
}

function shortMessage(err: unknown): string {
  const e = err as { shortMessage?: string; message?: string; revert?: { name?: string; args?: unknown[] } };
  if (e.revert?.name) return `the escrow refused: ${e.revert.name}`;
  return (e.shortMessage ?? e.message ?? String(err)).replace(/https?:\/\/\S+/g, "<chain-rpc>");
}
