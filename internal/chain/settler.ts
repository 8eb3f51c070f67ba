import type { Logger } from "pino";
import type { OutboxEntry, PaymentStore } from "../hub/store/payment-store.js";
import { PollLoop } from "../util/poll-loop.js";
import { type EscrowChain, type MinedReceipt, type OperatorCall, rentalKeyOf } from "./escrow.js";

export interface SettlerOptions {
  pollMs: number;
  maxBackoffMs: number;
  /** A sent transaction with no receipt after this long is checked: replaced or dropped ones are signed again. */
  resendAfterMs: number;
}

/**
 * Sends what the operator owes the escrow (mark started, settle), from the outbox in the store.
 * Each transaction is signed and its hash and raw form stored before it is broadcast, so a hub that
 * dies after sending rebroadcasts the same transaction (same nonce, same hash) instead of making a
 * second. Before signing, the escrow's own state is read: what is already done on chain is not sent.
 * The entry is done when the listener sees a final log that does it (or makes it moot).
 */
export class Settler {
  private readonly loop: PollLoop;
  /** The highest nonce in use: the chain's mined count less one, or the highest of our unmined transactions. */
  private lastNonce = -1;

  constructor(
    private readonly opts: SettlerOptions,
    private readonly deps: {
      chain: EscrowChain;
      payments: PaymentStore;
      logger: Logger;
      onTick?: () => Promise<void>;
      /** False on a hub that is not the one to send the operator's transactions now. */
      isLeader?: () => boolean;
    },
  ) {
    this.loop = new PollLoop({ intervalMs: opts.pollMs, maxBackoffMs: opts.maxBackoffMs }, (signal) => this.tick(signal), (err, retryInMs) =>
      deps.logger.warn({ err: (err as Error).message, retryInMs }, "sending the operator's transactions failed; retrying"),
    );
  }

  start(): void {
    this.loop.start();
  }

  wake(): void {
    this.loop.wake();
  }

  close(): Promise<void> {
    return this.loop.close();
  }

  private async tick(signal: AbortSignal): Promise<boolean> {
    if (this.deps.isLeader && !this.deps.isLeader()) return false;
    await this.deps.onTick?.();
    let open = await this.deps.payments.outbox(["pending", "sent"]);
    // Each sent transaction's receipt is read once a tick, for the gap check and for following it.
    const receipts = await this.receiptsOf(open, signal);
    if (await this.closeNonceGap(open, receipts, signal)) open = await this.deps.payments.outbox(["pending", "sent"]);
    // One at a time, in the order written: the operator's nonces follow that order.
    for (const entry of open) {
      signal.throwIfAborted();
      try {
        await (entry.status === "sent" ? this.follow(entry, receipts.get(entry.txHash ?? "") ?? null, signal) : this.send(entry, signal));
      } catch (err) {
        if (signal.aborted) throw err;
        const message = (err as Error).message;
        await this.deps.payments.updateOutbox(entry.rentalId, entry.action, { attempts: entry.attempts + 1, lastError: message });
        throw err;
      }
    }
    return false;
  }

  private async receiptsOf(entries: OutboxEntry[], signal: AbortSignal): Promise<Map<string, MinedReceipt | null>> {
    const receipts = new Map<string, MinedReceipt | null>();
    for (const e of entries) if (e.status === "sent" && e.txHash) receipts.set(e.txHash, await this.deps.chain.receipt(e.txHash, signal));
    return receipts;
  }

  private async send(entry: OutboxEntry, signal: AbortSignal): Promise<void> {
    if (await this.alreadyOnChain(entry, signal)) return;
    const { chain, payments } = this.deps;
    // Our own count once we have one: a chain's pending count may miss a transaction still in its pool.
    const nonce = this.lastNonce >= 0 ? this.lastNonce + 1 : await chain.nextNonce(signal);
    const signed = await chain.signCall(callOf(entry), nonce, signal);
    this.lastNonce = nonce;
    // Stored before it leaves: whatever dies next, this transaction is the one that gets sent.
    await payments.updateOutbox(entry.rentalId, entry.action, { status: "sent", txHash: signed.txHash, rawTx: signed.rawTx, attempts: entry.attempts + 1, lastError: "" });
    if ((await chain.broadcast(signed.rawTx, signal)) === "nonce_taken") return this.signAgain(entry, `nonce ${nonce} was taken by another transaction`);
    this.deps.logger.info({ rentalId: entry.rentalId, action: entry.action, secondsUsed: entry.secondsUsed, txHash: signed.txHash, nonce: signed.nonce }, "operator transaction sent");
  }

  /** A sent transaction: mined (the listener finishes it), reverted, or missing and sent again. */
  private async follow(entry: OutboxEntry, receipt: MinedReceipt | null, signal: AbortSignal): Promise<void> {
    const { chain, payments } = this.deps;
    if (receipt && !receipt.reverted) return;
    if (await this.alreadyOnChain(entry, signal)) return;
    if (receipt?.reverted || !entry.rawTx) {
      await payments.updateOutbox(entry.rentalId, entry.action, { status: "pending", txHash: null, rawTx: null, lastError: receipt?.reverted ? `transaction ${entry.txHash} reverted` : "" });
      return;
    }
    if (Date.now() - entry.updatedAt.getTime() > this.opts.resendAfterMs) {
      // Long unmined and not done on chain: dropped or replaced. A fresh signature takes a fresh nonce.
      return this.signAgain(entry, `transaction ${entry.txHash} was not mined`);
    }
    if ((await chain.broadcast(entry.rawTx, signal)) === "nonce_taken" && !(await chain.receipt(entry.txHash ?? "", signal))) {
      await this.signAgain(entry, `transaction ${entry.txHash} lost its nonce to another`);
    }
  }

  /**
   * The operator's nonces must have no gap: a transaction waits until every lower nonce is mined. A
   * reorganisation can take mined operator transactions back out of the chain, and a dropped one
   * leaves a hole; then nothing signed after it is ever mined. When the lowest unmined nonce of the
   * outbox is above the chain's mined count, nothing of ours fills the hole: the unmined ones are
   * signed again from the chain's count.
   */
  private async closeNonceGap(open: OutboxEntry[], receipts: Map<string, MinedReceipt | null>, signal: AbortSignal): Promise<boolean> {
    const { chain } = this.deps;
    const unmined = open.filter((e) => e.status === "sent" && e.rawTx && !(e.txHash && receipts.get(e.txHash)));
    const mined = await chain.minedNonce(signal);
    const lowest = Math.min(...unmined.map((e) => chain.nonceOf(e.rawTx ?? "")));
    if (unmined.length === 0 || lowest > mined) this.lastNonce = mined - 1;
    else this.lastNonce = Math.max(this.lastNonce, ...unmined.map((e) => chain.nonceOf(e.rawTx ?? "")));
    if (unmined.length === 0 || lowest <= mined) return false;
    for (const e of unmined) await this.signAgain(e, `nonce ${chain.nonceOf(e.rawTx ?? "")} waits behind a gap: the chain has mined ${mined} of the operator's transactions`);
    return true;
  }

  private async signAgain(entry: OutboxEntry, why: string): Promise<void> {
    this.deps.logger.warn({ rentalId: entry.rentalId, action: entry.action, why }, "signing an operator transaction again");
    await this.deps.payments.updateOutbox(entry.rentalId, entry.action, { status: "pending", txHash: null, rawTx: null, lastError: why });
  }

  /**
   * What the escrow already shows done needs no transaction. The entry is not closed here: the
   * chain's latest state may yet be reorganised away; the listener closes it when the log is final.
   */
  private async alreadyOnChain(entry: OutboxEntry, signal: AbortSignal): Promise<boolean> {
    const onChain = await this.deps.chain.rental(rentalKeyOf(entry.rentalId), signal);
    return onChain.closed || (entry.action === "start" && onChain.started);
  }
}

function callOf(entry: OutboxEntry): OperatorCall {
  const rentalKey = rentalKeyOf(entry.rentalId);
  return entry.action === "start" ? { action: "start", rentalKey } : { action: "settle", rentalKey, secondsUsed: BigInt(entry.secondsUsed ?? 0) };
}
