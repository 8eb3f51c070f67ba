import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from "kysely";
import { AppError } from "../../errors/app-error.js";

/** Every schema change, in order. Names sort; never edit one that has shipped. */
const MIGRATIONS: Record<string, Migration> = {
  "0001_nodes_certificates_heartbeats": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("nodes")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("wallet", "text", (c) => c.notNull())
        .addColumn("host", "text", (c) => c.notNull())
        .addColumn("api_port", "integer", (c) => c.notNull())
        .addColumn("price_per_sec_wei", "text", (c) => c.notNull())
        .addColumn("gpus_json", "text", (c) => c.notNull())
        .addColumn("versions_json", "text", (c) => c.notNull())
        .addColumn("notices_json", "text", (c) => c.notNull())
        .addColumn("registered_at", "text", (c) => c.notNull())
        .addColumn("updated_at", "text", (c) => c.notNull())
        .addColumn("cert_serial", "text", (c) => c.notNull())
        .addColumn("cert_not_after", "text", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("nodes_wallet").on("nodes").column("wallet").execute();
      await db.schema
        .createTable("certificates")
        .addColumn("serial", "text", (c) => c.primaryKey())
        .addColumn("node_id", "text", (c) => c.notNull().references("nodes.id"))
        .addColumn("not_after", "text", (c) => c.notNull())
        .addColumn("issued_at", "text", (c) => c.notNull())
        .addColumn("reason", "text", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("last_heartbeats")
        .addColumn("node_id", "text", (c) => c.primaryKey().references("nodes.id"))
        .addColumn("seq", "bigint", (c) => c.notNull())
        .addColumn("received_at", "text", (c) => c.notNull())
        .addColumn("body_json", "text", (c) => c.notNull())
        .execute();
    },
  },
  "0002_node_machine_id": {
    // Two machines of one wallet are two nodes; the machine id tells a re-registration from a new machine.
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable("nodes").addColumn("machine_id", "text", (c) => c.notNull().defaultTo("")).execute();
      await db.schema.createIndex("nodes_wallet_machine").on("nodes").columns(["wallet", "machine_id"]).execute();
    },
  },
  "0003_rentals": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("rentals")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("renter", "text", (c) => c.notNull())
        .addColumn("node_id", "text", (c) => c.notNull().references("nodes.id"))
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("request_json", "text", (c) => c.notNull())
        .addColumn("gpu_indices_json", "text", (c) => c.notNull())
        .addColumn("ssh_json", "text", (c) => c.notNull())
        // Snapshot of the node's price when the rental was made: later price changes do not apply.
        .addColumn("price_per_sec_wei", "text", (c) => c.notNull())
        .addColumn("reason", "text", (c) => c.notNull())
        .addColumn("exit_code", "integer")
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("started_at", "text")
        .addColumn("ended_at", "text")
        .addColumn("expires_at", "text")
        .execute();
      await db.schema.createIndex("rentals_renter").on("rentals").column("renter").execute();
      await db.schema.createIndex("rentals_node").on("rentals").column("node_id").execute();
    },
  },
  "0004_rental_offline_since": {
    // When the rental's node was last seen before it went away: billing pauses there until the node proves the rental ran on.
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable("rentals").addColumn("offline_since", "text").execute();
    },
  },
  "0005_bans_revocations": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("bans")
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("subject", "text", (c) => c.notNull())
        .addColumn("reason", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("bans_pk", ["kind", "subject"])
        .execute();
      await db.schema
        .createTable("revocations")
        .addColumn("serial", "text", (c) => c.primaryKey().references("certificates.serial"))
        .addColumn("reason", "text", (c) => c.notNull())
        .addColumn("revoked_at", "text", (c) => c.notNull())
        .execute();
    },
  },
  "0006_paid_rentals": {
    // Paid rentals: the escrow's terms and state per rental, every chain log acted on (once, by
    // transaction hash and log index), the listener's cursor, and the operator's transactions to send.
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable("rentals").addColumn("paid_seconds", "integer").execute();
      await db.schema
        .createTable("rental_payments")
        .addColumn("rental_id", "text", (c) => c.primaryKey().references("rentals.id"))
        .addColumn("rental_key", "text", (c) => c.notNull().unique())
        .addColumn("renter", "text", (c) => c.notNull())
        .addColumn("provider", "text", (c) => c.notNull())
        .addColumn("price_per_sec_wei", "text", (c) => c.notNull())
        .addColumn("min_deposit_wei", "text", (c) => c.notNull())
        .addColumn("deposit_wei", "text", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("refusal", "text", (c) => c.notNull())
        .addColumn("seconds_used", "integer")
        .addColumn("provider_wei", "text")
        .addColumn("refund_wei", "text")
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("updated_at", "text", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("rental_payments_provider").on("rental_payments").column("provider").execute();
      await db.schema
        .createTable("chain_events")
        .addColumn("tx_hash", "text", (c) => c.notNull())
        .addColumn("log_index", "integer", (c) => c.notNull())
        .addColumn("block_number", "bigint", (c) => c.notNull())
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("rental_id", "text")
        .addColumn("detail_json", "text", (c) => c.notNull())
        .addColumn("acted_at", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("chain_events_pk", ["tx_hash", "log_index"])
        .execute();
      await db.schema.createIndex("chain_events_rental").on("chain_events").column("rental_id").execute();
      await db.schema
        .createTable("chain_cursors")
        .addColumn("name", "text", (c) => c.primaryKey())
        .addColumn("block_number", "bigint", (c) => c.notNull())
        .addColumn("block_hash", "text", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("chain_outbox")
        .addColumn("rental_id", "text", (c) => c.notNull())
        .addColumn("action", "text", (c) => c.notNull())
        .addColumn("seconds_used", "integer")
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("tx_hash", "text")
        .addColumn("raw_tx", "text")
        .addColumn("attempts", "integer", (c) => c.notNull())
        .addColumn("last_error", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("updated_at", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("chain_outbox_pk", ["rental_id", "action"])
        .execute();
    },
  },
  "0007_leases": {
    // Work that must run on one hub at a time (the chain listener and settler; on SQLite, the hub
    // itself): whoever holds the lease, until it expires unless renewed.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("leases")
        .addColumn("name", "text", (c) => c.primaryKey())
        .addColumn("holder", "text", (c) => c.notNull())
        .addColumn("expires_at_ms", "bigint", (c) => c.notNull())
        .execute();
    },
  },
  "0008_session_revocations": {
    // Sessions are signed tokens every hub accepts; a sign-out is kept here so that every hub refuses
    // the token, until it would have expired anyway.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("session_revocations")
        .addColumn("token_id", "text", (c) => c.primaryKey())
        .addColumn("expires_at_ms", "bigint", (c) => c.notNull())
        .execute();
    },
  },
  "0009_cluster": {
    // Replicas on one PostgreSQL: each hub renews its row while it lives; a node's rentals are run by
    // the replica that holds its stream (or adopted it when that one died); a request for a node made on
    // another replica waits here for the owner's answer.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("hub_replicas")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("started_at_ms", "bigint", (c) => c.notNull())
        .addColumn("expires_at_ms", "bigint", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("node_owners")
        .addColumn("node_id", "text", (c) => c.primaryKey())
        .addColumn("replica_id", "text", (c) => c.notNull())
        .addColumn("connected", "integer", (c) => c.notNull())
        .addColumn("draining", "integer", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("node_owners_replica").on("node_owners").column("replica_id").execute();
      await db.schema
        .createTable("node_requests")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("from_replica", "text", (c) => c.notNull())
        .addColumn("body", "text", (c) => c.notNull())
        .addColumn("answer", "text")
        .addColumn("created_at_ms", "bigint", (c) => c.notNull())
        .execute();
    },
  },
};

class StaticProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return MIGRATIONS;
  }
}

export class SchemaError extends AppError {
  readonly code = "schema";
  override readonly shownToUser = true;
  override readonly name = "SchemaError";
}

const MIGRATION_TABLE = "kysely_migration";

export interface MigrateOptions {
  /**
   * PostgreSQL: the schema that holds the hub's tables (the connection's current_schema()).
   * Kysely looks for its migration table in every schema unless told which one, so a
   * `kysely_migration` of another application in `public` would be taken for ours.
   * SQLite has no schemas: leave it out.
   */
  schema?: string;
}

/**
 * Brings the schema up to date. A database migrated by a newer hub (it knows a
 * migration this build does not) is refused rather than half-understood.
 */
export async function migrateToLatest(db: Kysely<unknown>, opts: MigrateOptions = {}): Promise<string[]> {
  const known = new Set(Object.keys(MIGRATIONS));
  const applied = await appliedMigrations(db, opts.schema);
  const unknown = applied.filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new SchemaError(
      `the database was migrated by a newer rental-hub (unknown migrations: ${unknown.join(", ")}); upgrade the hub or point it at another database`,
    );
  }
  const migrator = new Migrator({
    db,
    provider: new StaticProvider(),
    migrationTableName: MIGRATION_TABLE,
    ...(opts.schema === undefined ? {} : { migrationTableSchema: opts.schema }),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw new SchemaError(`schema migration failed: ${error instanceof Error ? error.message : String(error)}`);
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}

async function appliedMigrations(db: Kysely<unknown>, schema: string | undefined): Promise<string[]> {
  // Asks whether the table exists instead of catching a failed select: a fresh database has
  // no migration table yet, but a refused connection must surface as itself.
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  const exists = tables.some((t) => t.name === MIGRATION_TABLE && (schema === undefined || t.schema === schema));
  if (!exists) return [];
  const table = schema === undefined ? sql.id(MIGRATION_TABLE) : sql.id(schema, MIGRATION_TABLE);
  const rows = await sql<{ name: string }>`select name from ${table}`.execute(db);
  return rows.rows.map((r) => r.name);
}
