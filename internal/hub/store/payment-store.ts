import type { Kysely, Transaction } from "kysely";
import type { ChainOutboxTable, Database, RentalPaymentsTable } from "./schema.js";

/**
 * Where a paid rental's money is: `awaiting` its funding, `funded` (final on chain, the rental may
 * start), `refused` (funded on terms the hub would not start: refunded), `settled` or `reclaimed`.
 */
export type PaymentStatus = "awaiting" | "funded" | "refused" | "settled" | "reclaimed";

export interface RentalPayment {
  rentalId: string;
  /** The rental's id as the escrow knows it (bytes32, 0x hex). */
  rentalKey: string;
  renter: string;
  /** The node's wallet when the rental was made: the funding must name it. */
  provider: string;
  pricePerSecWei: bigint;
  minDepositWei: bigint;
  /** What the escrow holds for it, top-ups included (0 until funded). */
  depositWei: bigint;
  status: PaymentStatus;
  /** Why a funding was refused, in words the renter sees. */
  refusal: string;
  secondsUsed: number | null;
  providerWei: bigint | null;
  refundWei: bigint | null;
  createdAt: Date;
  updatedAt: Date;
}

export type PaymentPatch = Partial<Pick<RentalPayment, "depositWei" | "status" | "refusal" | "secondsUsed" | "providerWei" | "refundWei">>;

/** A chain log the hub acted on: each (transaction hash, log index) at most once. */
export interface ChainEventRecord {
  txHash: string;
  logIndex: number;
  blockNumber: number;
  kind: string;
  rentalId: string | null;
  /** The log's fields, wei as decimal strings. */
  detail: Record<string, string>;
  actedAt: Date;
}

export type OutboxAction = "start" | "settle";
/** `pending`: to sign and send; `sent`: signed (raw kept) and broadcast, waiting to be mined; `done`. */
export type OutboxStatus = "pending" | "sent" | "done";

/** A transaction the operator owes the escrow, written before it is signed and kept until its log is final. */
export interface OutboxEntry {
  rentalId: string;
  action: OutboxAction;
  secondsUsed: number | null;
  status: OutboxStatus;
  txHash: string | null;
  rawTx: string | null;
  attempts: number;
  lastError: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface ChainCursor {
  blockNumber: number;
  blockHash: string;
}

/** What acting on one chain log changes, written in the same transaction as the log's record. */
export interface LogEffects {
  payment?: { rentalId: string; patch: PaymentPatch };
  enqueue?: OutboxEntry[];
  /** The outbox entries this log completes (or makes moot). */
  done?: Array<{ rentalId: string; action: OutboxAction; txHash: string }>;
}

export interface PaymentStore {
  create(p: RentalPayment): Promise<void>;
  get(rentalId: string): Promise<RentalPayment | undefined>;
  getByKey(rentalKey: string): Promise<RentalPayment | undefined>;
  list(filter: { rentalIds?: string[]; provider?: string; statuses?: readonly PaymentStatus[] }): Promise<RentalPayment[]>;
  /** Records the log and applies its effects in one transaction; false (and nothing applied) when it was acted on before. */
  actOnce(event: ChainEventRecord, effects: LogEffects): Promise<boolean>;
  /** The logs acted on for these rentals, oldest first: the renters' transaction hashes. */
  events(rentalIds: string[]): Promise<ChainEventRecord[]>;
  cursor(name: string): Promise<ChainCursor | undefined>;
  setCursor(name: string, cursor: ChainCursor): Promise<void>;
  /** Adds entries that are not there yet (one per rental and action). */
  enqueue(entries: OutboxEntry[]): Promise<void>;
  outbox(statuses: readonly OutboxStatus[]): Promise<OutboxEntry[]>;
  updateOutbox(rentalId: string, action: OutboxAction, patch: Partial<Pick<OutboxEntry, "status" | "txHash" | "rawTx" | "attempts" | "lastError">>): Promise<void>;
  /** Funded payments whose rental has ended and that have no settlement queued: what a crash between the two left. */
  endedWithoutSettlement(activeStatuses: readonly string[]): Promise<string[]>;
}

export class KyselyPaymentStore implements PaymentStore {
  constructor(private readonly db: Kysely<Database>) {}

  async create(p: RentalPayment): Promise<void> {
    await this.db.insertInto("rental_payments").values(paymentRow(p)).execute();
  }

  async get(rentalId: string): Promise<RentalPayment | undefined> {
    const row = await this.db.selectFrom("rental_payments").selectAll().where("rental_id", "=", rentalId).executeTakeFirst();
    return row ? payment(row) : undefined;
  }

  async getByKey(rentalKey: string): Promise<RentalPayment | undefined> {
    const row = await this.db.selectFrom("rental_payments").selectAll().where("rental_key", "=", rentalKey.toLowerCase()).executeTakeFirst();
    return row ? payment(row) : undefined;
  }

  async list(filter: { rentalIds?: string[]; provider?: string; statuses?: readonly PaymentStatus[] }): Promise<RentalPayment[]> {
    let q = this.db.selectFrom("rental_payments").selectAll();
    if (filter.rentalIds !== undefined) {
      if (filter.rentalIds.length === 0) return [];
      q = q.where("rental_id", "in", filter.rentalIds);
    }
    if (filter.provider !== undefined) q = q.where("provider", "=", filter.provider);
    if (filter.statuses !== undefined) q = q.where("status", "in", [...filter.statuses]);
    return (await q.orderBy("created_at").execute()).map(payment);
  }

  async actOnce(event: ChainEventRecord, effects: LogEffects): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const inserted = await tx
        .insertInto("chain_events")
        .values({
          tx_hash: event.txHash.toLowerCase(),
          log_index: event.logIndex,
          block_number: event.blockNumber,
          kind: event.kind,
          rental_id: event.rentalId,
          detail_json: JSON.stringify(event.detail),
          acted_at: event.actedAt.toISOString(),
        })
        .onConflict((oc) => oc.columns(["tx_hash", "log_index"]).doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return false;
      if (effects.payment) await updatePayment(tx, effects.payment.rentalId, effects.payment.patch);
      if (effects.enqueue) await insertOutbox(tx, effects.enqueue);
      for (const done of effects.done ?? []) {
        await tx
          .updateTable("chain_outbox")
          .set({ status: "done", tx_hash: done.txHash, raw_tx: null, last_error: "", updated_at: new Date().toISOString() })
          .where("rental_id", "=", done.rentalId)
          .where("action", "=", done.action)
          .execute();
      }
      return true;
    });
  }

  async events(rentalIds: string[]): Promise<ChainEventRecord[]> {
    if (rentalIds.length === 0) return [];
    const rows = await this.db.selectFrom("chain_events").selectAll().where("rental_id", "in", rentalIds).orderBy("block_number").orderBy("log_index").execute();
    return rows.map((r) => ({
      txHash: r.tx_hash,
      logIndex: r.log_index,
      blockNumber: Number(r.block_number),
      kind: r.kind,
      rentalId: r.rental_id,
      detail: JSON.parse(r.detail_json) as Record<string, string>,
      actedAt: new Date(r.acted_at),
    }));
  }

  async cursor(name: string): Promise<ChainCursor | undefined> {
    const row = await this.db.selectFrom("chain_cursors").selectAll().where("name", "=", name).executeTakeFirst();
    return row ? { blockNumber: Number(row.block_number), blockHash: row.block_hash } : undefined;
  }

  async setCursor(name: string, cursor: ChainCursor): Promise<void> {
    const row = { name, block_number: cursor.blockNumber, block_hash: cursor.blockHash };
    await this.db
      .insertInto("chain_cursors")
      .values(row)
      .onConflict((oc) => oc.column("name").doUpdateSet({ block_number: cursor.blockNumber, block_hash: cursor.blockHash }))
      .execute();
  }

  async enqueue(entries: OutboxEntry[]): Promise<void> {
    await this.db.transaction().execute((tx) => insertOutbox(tx, entries));
  }

  async outbox(statuses: readonly OutboxStatus[]): Promise<OutboxEntry[]> {
    const rows = await this.db.selectFrom("chain_outbox").selectAll().where("status", "in", [...statuses]).orderBy("created_at").orderBy("rental_id").execute();
    return rows.map(outboxEntry);
  }

  async updateOutbox(rentalId: string, action: OutboxAction, patch: Partial<Pick<OutboxEntry, "status" | "txHash" | "rawTx" | "attempts" | "lastError">>): Promise<void> {
    const set: Partial<ChainOutboxTable> = { updated_at: new Date().toISOString() };
    if (patch.status !== undefined) set.status = patch.status;
    if (patch.txHash !== undefined) set.tx_hash = patch.txHash;
    if (patch.rawTx !== undefined) set.raw_tx = patch.rawTx;
    if (patch.attempts !== undefined) set.attempts = patch.attempts;
    if (patch.lastError !== undefined) set.last_error = patch.lastError;
    await this.db.updateTable("chain_outbox").set(set).where("rental_id", "=", rentalId).where("action", "=", action).execute();
  }

  async endedWithoutSettlement(activeStatuses: readonly string[]): Promise<string[]> {
    const rows = await this.db
      .selectFrom("rental_payments as p")
      .innerJoin("rentals as r", "r.id", "p.rental_id")
      .leftJoin("chain_outbox as o", (j) => j.onRef("o.rental_id", "=", "p.rental_id").on("o.action", "=", "settle"))
      .select("p.rental_id")
      .where("p.status", "=", "funded")
      .where("r.status", "not in", [...activeStatuses])
      .where("o.rental_id", "is", null)
      .execute();
    return rows.map((r) => r.rental_id);
  }
}

async function updatePayment(tx: Transaction<Database>, rentalId: string, patch: PaymentPatch): Promise<void> {
  const set: Partial<RentalPaymentsTable> = { updated_at: new Date().toISOString() };
  if (patch.depositWei !== undefined) set.deposit_wei = patch.depositWei.toString();
  if (patch.status !== undefined) set.status = patch.status;
  if (patch.refusal !== undefined) set.refusal = patch.refusal;
  if (patch.secondsUsed !== undefined) set.seconds_used = patch.secondsUsed;
  if (patch.providerWei !== undefined) set.provider_wei = patch.providerWei?.toString() ?? null;
  if (patch.refundWei !== undefined) set.refund_wei = patch.refundWei?.toString() ?? null;
  await tx.updateTable("rental_payments").set(set).where("rental_id", "=", rentalId).execute();
}

async function insertOutbox(tx: Transaction<Database>, entries: OutboxEntry[]): Promise<void> {
  for (const e of entries) {
    await tx
      .insertInto("chain_outbox")
      .values({
        rental_id: e.rentalId,
        action: e.action,
        seconds_used: e.secondsUsed,
        status: e.status,
        tx_hash: e.txHash,
        raw_tx: e.rawTx,
        attempts: e.attempts,
        last_error: e.lastError,
        created_at: e.createdAt.toISOString(),
        updated_at: e.updatedAt.toISOString(),
      })
      .onConflict((oc) => oc.columns(["rental_id", "action"]).doNothing())
      .execute();
  }
}

const wei = (s: string | null): bigint | null => (s === null ? null : BigInt(s));

function paymentRow(p: RentalPayment): RentalPaymentsTable {
  return {
    rental_id: p.rentalId,
    rental_key: p.rentalKey.toLowerCase(),
    renter: p.renter,
    provider: p.provider,
    price_per_sec_wei: p.pricePerSecWei.toString(),
    min_deposit_wei: p.minDepositWei.toString(),
    deposit_wei: p.depositWei.toString(),
    status: p.status,
    refusal: p.refusal,
    seconds_used: p.secondsUsed,
    provider_wei: p.providerWei?.toString() ?? null,
    refund_wei: p.refundWei?.toString() ?? null,
    created_at: p.createdAt.toISOString(),
    updated_at: p.updatedAt.toISOString(),
  };
}

function payment(row: RentalPaymentsTable): RentalPayment {
  return {
    rentalId: row.rental_id,
    rentalKey: row.rental_key,
    renter: row.renter,
    provider: row.provider,
    pricePerSecWei: BigInt(row.price_per_sec_wei),
    minDepositWei: BigInt(row.min_deposit_wei),
    depositWei: BigInt(row.deposit_wei),
    status: row.status as PaymentStatus,
    refusal: row.refusal,
    secondsUsed: row.seconds_used,
    providerWei: wei(row.provider_wei),
    refundWei: wei(row.refund_wei),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

function outboxEntry(row: ChainOutboxTable): OutboxEntry {
  return {
    rentalId: row.rental_id,
    action: row.action as OutboxAction,
    secondsUsed: row.seconds_used,
    status: row.status as OutboxStatus,
    txHash: row.tx_hash,
    rawTx: row.raw_tx,
    attempts: row.attempts,
    lastError: row.last_error,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}
