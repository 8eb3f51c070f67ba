import type { Kysely } from "kysely";
import type { Database, RentalsTable } from "./schema.js";

/** Where a rental is in its life, as the hub tells renters. */
export type RentalStatus = "awaiting_payment" | "starting" | "running" | "node_offline" | "exited" | "stopped" | "failed";

/** Not ended: waiting for its funding to be final, or on its node. */
export const ACTIVE_STATUSES: readonly RentalStatus[] = ["awaiting_payment", "starting", "running", "node_offline"];

/** What the renter asked for; kept as asked. */
export interface RentalRequest {
  image: string;
  gpuCount: number;
  gpuIds: string[];
  gpuModel: string;
  cpuMillis: number;
  memoryBytes: number;
  sshPublicKeys: string[];
  command: string[];
  /** Absent in rentals made before the hub took environments. */
  env?: Array<{ name: string; value: string }>;
  maxDurationSeconds: number;
  /** SSH sessions as root instead of the image's user. */
  runAsRoot?: boolean;
}

export interface RentalSsh {
  host: string;
  port: number;
  user: string;
  command: string;
  hostKeyFingerprint: string;
  /** "ssh-ed25519 AAAA…", checked against the fingerprint; absent from rentals made before nodes sent it. */
  hostPublicKey?: string;
}

export interface HubRental {
  id: string;
  renter: string;
  nodeId: string;
  status: RentalStatus;
  request: RentalRequest;
  gpuIndices: number[];
  ssh: RentalSsh | null;
  pricePerSecWei: string;
  reason: string;
  exitCode: number | null;
  createdAt: Date;
  startedAt: Date | null;
  endedAt: Date | null;
  expiresAt: Date | null;
  /** While its node is away: when the node was last seen. Billing pauses there until the node says the rental ran on. */
  offlineSince: Date | null;
  /** Seconds its escrow deposit pays for (top-ups add to it); null when the rental is not paid on chain. */
  paidSeconds: number | null;
}

export interface RentalFilter {
  renter?: string;
  nodeIds?: string[];
  statuses?: readonly RentalStatus[];
}

export interface RentalStore {
  create(r: HubRental): Promise<void>;
  update(id: string, patch: Partial<Omit<HubRental, "id" | "renter" | "nodeId" | "request" | "createdAt">>): Promise<void>;
  get(id: string): Promise<HubRental | undefined>;
  /** Newest first. */
  list(filter: RentalFilter): Promise<HubRental[]>;
  /** How many rentals are in each status (every status present, 0 included). */
  countByStatus(): Promise<Record<RentalStatus, number>>;
}

export class KyselyRentalStore implements RentalStore {
  constructor(private readonly db: Kysely<Database>) {}

  async create(r: HubRental): Promise<void> {
    await this.db.insertInto("rentals").values(toRow(r)).execute();
  }

  async update(id: string, patch: Partial<HubRental>): Promise<void> {
    // Only the fields given: two updates of different fields never undo each other.
    const set: Partial<RentalsTable> = {};
    if (patch.status !== undefined) set.status = patch.status;
    if (patch.gpuIndices !== undefined) set.gpu_indices_json = JSON.stringify(patch.gpuIndices);
    if (patch.ssh !== undefined) set.ssh_json = JSON.stringify(patch.ssh);
    if (patch.reason !== undefined) set.reason = patch.reason;
    if (patch.exitCode !== undefined) set.exit_code = patch.exitCode;
    if (patch.startedAt !== undefined) set.started_at = iso(patch.startedAt);
    if (patch.endedAt !== undefined) set.ended_at = iso(patch.endedAt);
    if (patch.expiresAt !== undefined) set.expires_at = iso(patch.expiresAt);
    if (patch.offlineSince !== undefined) set.offline_since = iso(patch.offlineSince);
    if (patch.paidSeconds !== undefined) set.paid_seconds = patch.paidSeconds;
    if (Object.keys(set).length === 0) return;
    await this.db.updateTable("rentals").set(set).where("id", "=", id).execute();
  }

  async get(id: string): Promise<HubRental | undefined> {
    const row = await this.db.selectFrom("rentals").selectAll().where("id", "=", id).executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  async list(filter: RentalFilter): Promise<HubRental[]> {
    let q = this.db.selectFrom("rentals").selectAll();
    if (filter.renter !== undefined) q = q.where("renter", "=", filter.renter);
    if (filter.nodeIds !== undefined) {
      if (filter.nodeIds.length === 0) return [];
      q = q.where("node_id", "in", filter.nodeIds);
    }
    if (filter.statuses !== undefined) q = q.where("status", "in", [...filter.statuses]);
    const rows = await q.orderBy("created_at", "desc").orderBy("id").execute();
    return rows.map(fromRow);
  }

  async countByStatus(): Promise<Record<RentalStatus, number>> {
    const rows = await this.db.selectFrom("rentals").select(["status", (eb) => eb.fn.countAll<number | string | bigint>().as("n")]).groupBy("status").execute();
    const counts: Record<RentalStatus, number> = { awaiting_payment: 0, starting: 0, running: 0, node_offline: 0, exited: 0, stopped: 0, failed: 0 };
    for (const r of rows) if (r.status in counts) counts[r.status as RentalStatus] = Number(r.n);
    return counts;
  }
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);
const date = (s: string | null): Date | null => (s ? new Date(s) : null);

function toRow(r: HubRental): RentalsTable {
  return {
    id: r.id,
    renter: r.renter,
    node_id: r.nodeId,
    status: r.status,
    request_json: JSON.stringify(r.request),
    gpu_indices_json: JSON.stringify(r.gpuIndices),
    ssh_json: JSON.stringify(r.ssh),
    price_per_sec_wei: r.pricePerSecWei,
    reason: r.reason,
    exit_code: r.exitCode,
    created_at: r.createdAt.toISOString(),
    started_at: iso(r.startedAt),
    ended_at: iso(r.endedAt),
    expires_at: iso(r.expiresAt),
    offline_since: iso(r.offlineSince),
    paid_seconds: r.paidSeconds,
  };
}

function fromRow(row: RentalsTable): HubRental {
  return {
    id: row.id,
    renter: row.renter,
    nodeId: row.node_id,
    status: row.status as RentalStatus,
    request: JSON.parse(row.request_json) as RentalRequest,
    gpuIndices: JSON.parse(row.gpu_indices_json) as number[],
    ssh: JSON.parse(row.ssh_json) as RentalSsh | null,
    pricePerSecWei: row.price_per_sec_wei,
    reason: row.reason,
    exitCode: row.exit_code,
    createdAt: new Date(row.created_at),
    startedAt: date(row.started_at),
    endedAt: date(row.ended_at),
    expiresAt: date(row.expires_at),
    offlineSince: date(row.offline_since),
    paidSeconds: row.paid_seconds,
  };
}
