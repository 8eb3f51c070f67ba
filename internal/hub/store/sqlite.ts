import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import SQLite from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import type { Database } from "./schema.js";
import { KyselyHubStore } from "./kysely-store.js";
import { migrateToLatest } from "./migrations.js";

/** The embedded default: one SQLite file in the hub's data dir, migrated on open. */
export async function openSqliteStore(file: string): Promise<KyselyHubStore> {
  if (file !== ":memory:") await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const sqlite = new SQLite(file);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("foreign_keys = ON");
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  try {
    await migrateToLatest(db as Kysely<unknown>);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return new KyselyHubStore(db);
}
