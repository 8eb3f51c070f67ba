import pg from "pg";
import { Kysely, sql } from "kysely";
import { OwnSchemaPostgresDialect } from "./schema-introspector.js";
import type { Database } from "./schema.js";
import { KyselyHubStore } from "./kysely-store.js";
import { migrateToLatest, SchemaError } from "./migrations.js";
import { redactDatabaseUrl } from "./database-url.js";
import { AppError } from "../../errors/app-error.js";

export interface PostgresStoreOptions {
  /** Pool size; node-postgres' default is 10. */
  maxConnections?: number;
  /** Bounds each connection attempt, so an unreachable server fails the open instead of hanging. */
  connectTimeoutMs?: number;
  /**
   * An idle pooled connection failed (server restart, network cut). The pool has already dropped
   * it; without a listener node-postgres would crash the process with it.
   */
  onConnectionError?: (err: Error) => void;
}

export const DEFAULT_POSTGRES_CONNECT_TIMEOUT_MS = 10_000;

/** Raised when the server cannot be reached or refuses the login; its message never holds the password. */
export class DatabaseConnectionError extends AppError {
  readonly code = "database_connection";
  override readonly shownToUser = true;
  override readonly name = "DatabaseConnectionError";
}

/**
 * The shared deployment: a PostgreSQL database named by a `postgres://` URL, migrated on open.
 * The tables live in the connection's current schema (`public` unless the URL sets
 * `?options=-c search_path=...`), so one database can hold several hubs.
 */
export async function openPostgresStore(url: string, opts: PostgresStoreOptions = {}): Promise<KyselyHubStore> {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.maxConnections ?? 10,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? DEFAULT_POSTGRES_CONNECT_TIMEOUT_MS,
    application_name: "rental-hub",
  });
  const onConnectionError = opts.onConnectionError ?? (() => undefined);
  pool.on("error", onConnectionError);
  const db = new Kysely<Database>({ dialect: new OwnSchemaPostgresDialect({ pool }) });
  try {
    const schema = await currentSchema(db, url);
    await migrateToLatest(db as Kysely<unknown>, { schema });
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return new KyselyHubStore(db);
}

async function currentSchema(db: Kysely<Database>, url: string): Promise<string> {
  let schema: string | null | undefined;
  try {
    const result = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
    schema = result.rows[0]?.schema;
  } catch (err) {
    // node-postgres' messages name the user and host, never the password; the URL is redacted.
    throw new DatabaseConnectionError(`cannot open PostgreSQL at ${redactDatabaseUrl(url)}: ${errorMessage(err)}`);
  }
  if (schema === null || schema === undefined) {
    throw new SchemaError(
      `PostgreSQL at ${redactDatabaseUrl(url)}: no schema on the search_path exists; create it or fix the URL's search_path`,
    );
  }
  return schema;
}

function errorMessage(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) {
    // A refused "localhost" fails once per address (::1, 127.0.0.1) and says only "AggregateError".
    return err.errors.map(errorMessage).join("; ");
  }
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
