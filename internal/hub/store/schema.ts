import type { ColumnType } from "kysely";

/** Column types as stored: dates as ISO-8601 text and JSON as text, so SQLite and PostgreSQL share one schema. */
export interface NodesTable {
  id: string;
  wallet: string;
  machine_id: string;
  host: string;
  api_port: number;
  price_per_sec_wei: string;
  gpus_json: string;
  versions_json: string;
  notices_json: string;
  registered_at: string;
  updated_at: string;
  cert_serial: string;
  cert_not_after: string;
}

export interface CertificatesTable {
  serial: string;
  node_id: string;
  not_after: string;
  issued_at: string;
  reason: string;
}

export interface HeartbeatsTable {
  node_id: string;
  /** bigint: node-postgres returns int8 as a string (it may exceed 2^53), SQLite as a number. */
  seq: ColumnType<number | string, number, number>;
  received_at: string;
  body_json: string;
}

export interface RentalsTable {
  id: string;
  renter: string;
  node_id: string;
  status: string;
  request_json: string;
  gpu_indices_json: string;
  ssh_json: string;
  price_per_sec_wei: string;
  reason: string;
  exit_code: number | null;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  expires_at: string | null;
  offline_since: string | null;
  /** Seconds the rental's escrow deposit pays for; null for a rental that is not paid on chain. */
  paid_seconds: number | null;
}

export interface BansTable {
  kind: string;
  subject: string;
  reason: string;
  created_at: string;
}

export interface RevocationsTable {
  serial: string;
  reason: string;
  revoked_at: string;
}

/** Wei as decimal text: amounts exceed every column's integer range. */
export interface RentalPaymentsTable {
  rental_id: string;
  rental_key: string;
  renter: string;
  provider: string;
  price_per_sec_wei: string;
  min_deposit_wei: string;
  deposit_wei: string;
  status: string;
  refusal: string;
  seconds_used: number | null;
  provider_wei: string | null;
  refund_wei: string | null;
  created_at: string;
  updated_at: string;
}

export interface ChainEventsTable {
  tx_hash: string;
  log_index: number;
  block_number: ColumnType<number | string, number, number>;
  kind: string;
  rental_id: string | null;
  detail_json: string;
  acted_at: string;
}

export interface ChainCursorsTable {
  name: string;
  block_number: ColumnType<number | string, number, number>;
  block_hash: string;
}

export interface ChainOutboxTable {
  rental_id: string;
  action: string;
  seconds_used: number | null;
  status: string;
  tx_hash: string | null;
  raw_tx: string | null;
  attempts: number;
  last_error: string;
  created_at: string;
  updated_at: string;
}

export interface LeasesTable {
  name: string;
  holder: string;
  expires_at_ms: ColumnType<number | string, number, number>;
}

export interface SessionRevocationsTable {
  token_id: string;
  expires_at_ms: ColumnType<number | string, number, number>;
}

export interface HubReplicasTable {
  id: string;
  started_at_ms: ColumnType<number | string, number, number>;
  expires_at_ms: ColumnType<number | string, number, number>;
}

export interface NodeOwnersTable {
  node_id: string;
  replica_id: string;
  connected: number;
  draining: number;
}

export interface NodeRequestsTable {
  id: string;
  from_replica: string;
  body: string;
  answer: string | null;
  created_at_ms: ColumnType<number | string, number, number>;
}

export interface Database {
  rentals: RentalsTable;
  nodes: NodesTable;
  certificates: CertificatesTable;
  last_heartbeats: HeartbeatsTable;
  bans: BansTable;
  revocations: RevocationsTable;
  rental_payments: RentalPaymentsTable;
  chain_events: ChainEventsTable;
  chain_cursors: ChainCursorsTable;
  chain_outbox: ChainOutboxTable;
  leases: LeasesTable;
  session_revocations: SessionRevocationsTable;
  hub_replicas: HubReplicasTable;
  node_owners: NodeOwnersTable;
  node_requests: NodeRequestsTable;
}
