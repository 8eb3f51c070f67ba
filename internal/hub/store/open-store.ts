import type { HubStore } from "./hub-store.js";
import { redactDatabaseUrl } from "./database-url.js";
import { openPostgresStore, type PostgresStoreOptions } from "./postgres.js";
import { openSqliteStore } from "./sqlite.js";
import { AppError } from "../../errors/app-error.js";

export interface OpenHubStoreOptions {
  /** `postgres://` or `postgresql://` selects PostgreSQL; absent (or empty) selects the SQLite file. */
  databaseUrl?: string;
  /** The embedded database, used when no databaseUrl is given. */
  sqliteFile: string;
  /** Only for PostgreSQL. */
  postgres?: PostgresStoreOptions;
}

export type StoreSelection = { engine: "sqlite"; file: string } | { engine: "postgres"; url: string };

/** A database URL the hub cannot use; the message shows the URL with its password redacted. */
export class DatabaseUrlError extends AppError {
  readonly code = "database_url";
  override readonly shownToUser = true;
  override readonly name = "DatabaseUrlError";
}

/** Which engine a hub's settings select; throws DatabaseUrlError for anything but the two kinds. */
export function selectStore(opts: Pick<OpenHubStoreOptions, "databaseUrl" | "sqliteFile">): StoreSelection {
  const databaseUrl = opts.databaseUrl;
  if (databaseUrl === undefined || databaseUrl.trim() === "") return { engine: "sqlite", file: opts.sqliteFile };
  let protocol: string;
  try {
    protocol = new URL(databaseUrl).protocol; // lower-cased by the parser
  } catch {
    throw new DatabaseUrlError(
      "the database URL does not parse as a URL; expected postgres://user:password@host:5432/dbname (percent-encode special characters in the password)",
    );
  }
  if (protocol === "postgres:" || protocol === "postgresql:") return { engine: "postgres", url: databaseUrl };
  throw new DatabaseUrlError(
    `unsupported database URL ${redactDatabaseUrl(databaseUrl)}: only postgres:// and postgresql:// are supported; leave it unset for the embedded SQLite database`,
  );
}

/** Opens and migrates the hub's store on the engine its settings select. */
export async function openHubStore(opts: OpenHubStoreOptions): Promise<HubStore> {
  const selected = selectStore(opts);
  switch (selected.engine) {
    case "postgres":
      return openPostgresStore(selected.url, opts.postgres);
    case "sqlite":
      return openSqliteStore(selected.file);
  }
}
