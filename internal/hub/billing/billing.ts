import type { Logger } from "pino";
import type { EscrowLog } from "../../chain/escrow.js";
import { rentalIdOf, rentalKeyOf } from "../../chain/escrow.js";
import type { RentalBook, RentalPayments } from "../rentals/rental-book.js";
import { secondsUsed } from "../rentals/rental-cost.js";
import type { HubStore } from "../store/hub-store.js";
import type { ChainEventRecord, LogEffects, OutboxEntry, RentalPayment } from "../store/payment-store.js";
import { ACTIVE_STATUSES, type HubRental } from "../store/rental-store.js";

export interface BillingOptions {
  /** The least a funding must pay for, in seconds at the node's price. */
  minPaidSeconds: number;
  /** The deposit the hub asks for when the renter sets no duration limit. */
  defaultPaidSeconds: number;
  paymentWindowMs: number;
}

/**
 * A paid rental's money, from the escrow's final logs: funding starts the rental (when its terms
 * match), top-ups extend it, and its end queues the settlement. Every log is acted on once: its
 * record and its effects are one transaction in the store.
 */
export class Billing implements RentalPayments {
  readonly paymentWindowMs: number;
  private book: RentalBook | undefined;

  constructor(
    private readonly opts: BillingOptions,
    private readonly deps: { store: HubStore; logger: Logger; wakeSettler: () => void },
  ) {
    this.paymentWindowMs = opts.paymentWindowMs;
  }

  requiresPayment(pricePerSecWei: string): boolean {
    return BigInt(pricePerSecWei) > 0n;
  }

  /** The book and billing know each other: the book asks for payments, billing starts and ends rentals. */
  attach(book: RentalBook): void {
    this.book = book;
    book.on("changed", (r) => void this.onRentalChanged(r).catch((err: unknown) => this.deps.logger.error({ err, rentalId: r.id }, "could not queue a settlement; the next sweep does")));
  }

  async open(rental: HubRental): Promise<void> {
    const node = await this.deps.store.getNode(rental.nodeId);
    const price = BigInt(rental.pricePerSecWei);
    const now = new Date();
    await this.deps.store.payments.create({
      rentalId: rental.id,
      rentalKey: rentalKeyOf(rental.id),
      renter: rental.renter,
      provider: node?.wallet ?? "",
      pricePerSecWei: price,
      minDepositWei: price * BigInt(this.opts.minPaidSeconds),
      depositWei: 0n,
      status: "awaiting",
      refusal: "",
      secondsUsed: null,
      providerWei: null,
      refundWei: null,
      createdAt: now,
      updatedAt: now,
    });
  }

  /** The deposit the hub asks for: the rental's own limit, or the default, at its price. */
  askedDeposit(rental: HubRental): bigint {
    return BigInt(rental.pricePerSecWei) * BigInt(rental.request.maxDurationSeconds || this.opts.defaultPaidSeconds);
  }

  /**
   * After a restart: fundings acted on whose rental did not start yet (the hub died between the two),
   * and ended rentals whose settlement was not queued.
   */
  async resume(): Promise<void> {
    for (const p of await this.deps.store.payments.list({ statuses: ["funded"] })) {
      const r = await this.deps.store.rentals.get(p.rentalId);
      if (r?.status === "awaiting_payment") await this.book?.startPaid(p.rentalId, paidSeconds(p.depositWei, p.pricePerSecWei));
    }
    await this.queueLostSettlements();
  }

  async queueLostSettlements(): Promise<void> {
    for (const id of await this.deps.store.payments.endedWithoutSettlement(ACTIVE_STATUSES)) {
      const r = await this.deps.store.rentals.get(id);
      if (r) await this.queueSettlement(r);
    }
  }

  /** One final escrow log. Idempotent: a log acted on before changes nothing. */
  async onLog(log: EscrowLog): Promise<void> {
    if (log.kind === "withdrawn") return;
    const rentalId = rentalIdOf(log.rentalKey);
    const payment = rentalId ? await this.deps.store.payments.get(rentalId) : undefined;
    const event = eventRecord(log, payment?.rentalId ?? null);
    if (!payment) {
      if (await this.deps.store.payments.actOnce(event, {})) this.deps.logger.warn({ rentalKey: log.rentalKey, kind: log.kind, txHash: log.txHash }, "an escrow log for a rental this hub did not make; its renter can reclaim the deposit after the delay");
      return;
    }
    switch (log.kind) {
      case "opened":
        return this.onFunded(payment, log, event);
      case "toppedUp": {
        const funded = payment.status === "funded";
        if ((await this.deps.store.payments.actOnce(event, funded ? { payment: { rentalId: payment.rentalId, patch: { depositWei: log.depositWei } } } : {})) && funded) {
          await this.book?.extendPaid(payment.rentalId, paidSeconds(log.depositWei, payment.pricePerSecWei));
        }
        await this.book?.announce(payment.rentalId);
        return;
      }
      case "started":
        if (await this.deps.store.payments.actOnce(event, { done: [{ rentalId: payment.rentalId, action: "start", txHash: log.txHash }] })) await this.book?.announce(payment.rentalId);
        return;
      case "settled": {
        const status = payment.status === "refused" ? "refused" : "settled";
        const effects: LogEffects = {
          payment: { rentalId: payment.rentalId, patch: { status, secondsUsed: Number(log.secondsUsed), providerWei: log.providerWei, refundWei: log.refundWei } },
          done: closes(payment.rentalId, log.txHash),
        };
        if (!(await this.deps.store.payments.actOnce(event, effects))) return;
        this.deps.logger.info({ rentalId: payment.rentalId, secondsUsed: Number(log.secondsUsed), providerWei: String(log.providerWei), refundWei: String(log.refundWei), txHash: log.txHash }, "rental settled on chain");
        await this.book?.announce(payment.rentalId);
        return;
      }
      case "reclaimed": {
        if (!(await this.deps.store.payments.actOnce(event, { payment: { rentalId: payment.rentalId, patch: { status: "reclaimed", refundWei: log.amountWei } }, done: closes(payment.rentalId, log.txHash) }))) return;
        const r = await this.deps.store.rentals.get(payment.rentalId);
        if (r && ACTIVE_STATUSES.includes(r.status)) await this.book?.stop(r, "the renter reclaimed the deposit");
        return;
      }
    }
  }

  private async onFunded(payment: RentalPayment, log: Extract<EscrowLog, { kind: "opened" }>, event: ChainEventRecord): Promise<void> {
    if (payment.status !== "awaiting") {
      // The escrow opens a rental id once: another "opened" log is the same funding, moved to another
      // block by a reorganisation deeper than the confirmations. Acted on already: only recorded.
      if (await this.deps.store.payments.actOnce(event, {})) this.deps.logger.warn({ rentalId: payment.rentalId, txHash: log.txHash, status: payment.status }, "a rental's funding was seen again after a deep reorganisation; nothing changes");
      return;
    }
    const rental = await this.deps.store.rentals.get(payment.rentalId);
    const refusal = rental ? this.refusal(payment, rental, log) : "the rental is unknown";
    const now = new Date();
    const rentalId = payment.rentalId;
    if (refusal) {
      // Refunded at once rather than after the reclaim delay: the rental is the hub's own, its renter known.
      const refund = outbox(rentalId, "settle", 0, now);
      if (await this.deps.store.payments.actOnce(event, { payment: { rentalId, patch: { status: "refused", refusal, depositWei: log.depositWei } }, enqueue: [refund] })) {
        this.deps.logger.warn({ rentalId, txHash: log.txHash, refusal }, "refused a rental's funding; its deposit is refunded");
        await this.book?.refusePayment(rentalId, `payment refused: ${refusal}; the deposit is refunded to your escrow balance (withdraw it)`);
        this.deps.wakeSettler();
      }
      return;
    }
    if (!(await this.deps.store.payments.actOnce(event, { payment: { rentalId, patch: { status: "funded", depositWei: log.depositWei } }, enqueue: [outbox(rentalId, "start", null, now)] }))) return;
    this.deps.logger.info({ rentalId, depositWei: String(log.depositWei), txHash: log.txHash }, "rental funded; starting it");
    this.deps.wakeSettler();
    await this.book?.startPaid(rentalId, paidSeconds(log.depositWei, payment.pricePerSecWei));
  }

  /** Why the hub will not start on this funding, or "" when it matches the rental. */
  private refusal(payment: RentalPayment, rental: HubRental, log: Extract<EscrowLog, { kind: "opened" }>): string {
    if (rental.status !== "awaiting_payment") return `the rental is ${rental.status}, not awaiting payment`;
    if (log.provider.toLowerCase() !== payment.provider.toLowerCase()) return `the funding names provider ${log.provider}, but the node's wallet is ${payment.provider}`;
    if (log.pricePerSecWei !== payment.pricePerSecWei) return `the funding's price is ${log.pricePerSecWei} wei/s, but the node's is ${payment.pricePerSecWei}`;
    if (log.depositWei < payment.minDepositWei) return `the deposit of ${log.depositWei} wei is less than the minimum of ${payment.minDepositWei} (${this.opts.minPaidSeconds} s at the node's price)`;
    return "";
  }

  private async onRentalChanged(r: HubRental): Promise<void> {
    if (r.paidSeconds === null || ACTIVE_STATUSES.includes(r.status)) return;
    await this.queueSettlement(r);
  }

  private async queueSettlement(r: HubRental): Promise<void> {
    const payment = await this.deps.store.payments.get(r.id);
    if (payment?.status !== "funded") return;
    await this.deps.store.payments.enqueue([outbox(r.id, "settle", secondsUsed(r, r.endedAt ?? new Date()), new Date())]);
    this.deps.wakeSettler();
  }
}

/** Whole seconds a deposit pays for at a price. */
export const paidSeconds = (depositWei: bigint, pricePerSecWei: bigint): number => Number(depositWei / pricePerSecWei);

/** A settlement or reclaim closes the rental on chain: both of its operator transactions are done (or moot). */
const closes = (rentalId: string, txHash: string): NonNullable<LogEffects["done"]> => [
  { rentalId, action: "start", txHash },
  { rentalId, action: "settle", txHash },
];

function outbox(rentalId: string, action: OutboxEntry["action"], seconds: number | null, now: Date): OutboxEntry {
  return { rentalId, action, secondsUsed: seconds, status: "pending", txHash: null, rawTx: null, attempts: 0, lastError: "", createdAt: now, updatedAt: now };
}

function eventRecord(log: EscrowLog, rentalId: string | null): ChainEventRecord {
  const { blockNumber, blockHash: _hash, txHash, logIndex, kind, ...fields } = log;
  const detail = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, String(v)]));
  return { txHash, logIndex, blockNumber, kind, rentalId, detail, actedAt: new Date() };
}
