/** The escrow contract as the hub uses it: our own types (wei as bigint), so only one file knows ethers' contract API. */

/** Where a log is on the chain; (txHash, logIndex) names it for good. */
export interface LogPlace {
  blockNumber: number;
  blockHash: string;
  txHash: string;
  logIndex: number;
}

export type EscrowLog = LogPlace &
  (
    | { kind: "opened"; rentalKey: string; renter: string; provider: string; pricePerSecWei: bigint; depositWei: bigint }
    | { kind: "toppedUp"; rentalKey: string; from: string; amountWei: bigint; depositWei: bigint }
    | { kind: "started"; rentalKey: string }
    | { kind: "settled"; rentalKey: string; secondsUsed: bigint; providerWei: bigint; refundWei: bigint }
    | { kind: "reclaimed"; rentalKey: string; amountWei: bigint }
    | { kind: "withdrawn"; account: string; amountWei: bigint }
  );

export interface OnChainRental {
  /** False when no one opened it. */
  exists: boolean;
  renter: string;
  provider: string;
  pricePerSecWei: bigint;
  depositWei: bigint;
  started: boolean;
  closed: boolean;
}

export interface TokenInfo {
  address: string;
  symbol: string;
  decimals: number;
}

/** What the hub's operator key sends: mark a rental started, or settle it with the seconds used. */
export type OperatorCall = { action: "start"; rentalKey: string } | { action: "settle"; rentalKey: string; secondsUsed: bigint };

export interface SignedCall {
  txHash: string;
  rawTx: string;
  nonce: number;
}

export interface MinedReceipt {
  blockNumber: number;
  reverted: boolean;
}

export interface EscrowChain {
  readonly address: string;
  /** The operator's address; null when the hub has no operator key (it can then not settle). */
  readonly operator: string | null;
  chainId(signal?: AbortSignal): Promise<number>;
  headBlock(signal?: AbortSignal): Promise<number>;
  /** null when the chain has no such block (it was reorganised away, or is not mined yet). */
  blockHash(blockNumber: number, signal?: AbortSignal): Promise<string | null>;
  /** The escrow's logs in [from, to], in chain order. */
  logs(fromBlock: number, toBlock: number, signal?: AbortSignal): Promise<EscrowLog[]>;
  rental(rentalKey: string, signal?: AbortSignal): Promise<OnChainRental>;
  /** The ERC-20 the escrow takes payments in (its symbol and decimals as it says), or null for the chain's native currency. */
  token(signal?: AbortSignal): Promise<TokenInfo | null>;
  /** What `account` may withdraw now. */
  balanceOf(account: string, signal?: AbortSignal): Promise<bigint>;
  /** The next nonce the operator's account can use, pending transactions counted. */
  nextNonce(signal?: AbortSignal): Promise<number>;
  /** How many of the operator's transactions are mined (the latest block's nonce count). */
  minedNonce(signal?: AbortSignal): Promise<number>;
  /**
   * Signs the operator's call without sending it, so that its hash and raw form can be stored first:
   * a hub that dies after sending rebroadcasts the same transaction instead of making a second.
   * Rejects when the call would revert now (checked by estimating its gas).
   */
  signCall(call: OperatorCall, nonce: number, signal?: AbortSignal): Promise<SignedCall>;
  /**
   * Sends a signed transaction: "sent", "known" (the chain already has it), or "nonce_taken" (another
   * transaction has its nonce, or it was mined: the receipt tells which).
   */
  broadcast(rawTx: string, signal?: AbortSignal): Promise<"sent" | "known" | "nonce_taken">;
  /** The nonce a signed transaction uses. */
  nonceOf(rawTx: string): number;
  receipt(txHash: string, signal?: AbortSignal): Promise<MinedReceipt | null>;
}

/** The hub's rental ids are UUIDs: the escrow's bytes32 key is the UUID's 16 bytes, left-padded with zeros. */
export function rentalKeyOf(rentalId: string): string {
  const hex = rentalId.replace(/-/g, "").toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new Error(`not a rental id: ${rentalId}`);
  return `0x${"0".repeat(32)}${hex}`;
}

/** The rental id a key names, or null for a key the hub never made. */
export function rentalIdOf(rentalKey: string): string | null {
  const m = /^0x0{32}([0-9a-f]{8})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{12})$/.exec(rentalKey.toLowerCase());
  return m ? m.slice(1).join("-") : null;
}
