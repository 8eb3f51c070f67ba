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

export interface Database {
  rentals: RentalsTable;
  nodes: NodesTable;
  certificates: CertificatesTable;
  last_heartbeats: HeartbeatsTable;
  bans: BansTable;
  revocations: RevocationsTable;
}
