import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { redactDatabaseUrl } from "./database-url.js";
import { DatabaseUrlError, openHubStore, selectStore } from "./open-store.js";
import { DatabaseConnectionError } from "./postgres.js";

const SQLITE_FILE = "/var/lib/rental-hub/hub.db";

describe("selectStore", () => {
  it.each([
    [undefined, { engine: "sqlite", file: SQLITE_FILE }],
    ["", { engine: "sqlite", file: SQLITE_FILE }],
    ["postgres://hub:pw@db.internal:5432/hub", { engine: "postgres", url: "postgres://hub:pw@db.internal:5432/hub" }],
    ["postgresql://db.internal/hub?sslmode=require", { engine: "postgres", url: "postgresql://db.internal/hub?sslmode=require" }],
    ["POSTGRES://db.internal/hub", { engine: "postgres", url: "POSTGRES://db.internal/hub" }],
  ])("%j selects %j", (databaseUrl, expected) => {
    expect(selectStore({ databaseUrl, sqliteFile: SQLITE_FILE })).toEqual(expected);
  });

  it.each(["mysql://hub:topsecret@db.internal/hub", "sqlite:///var/lib/hub.db?password=topsecret", "https://hub:topsecret@db.internal/"])(
    "refuses %s without showing its password",
    (databaseUrl) => {
      const attempt = () => selectStore({ databaseUrl, sqliteFile: SQLITE_FILE });
      expect(attempt).toThrow(DatabaseUrlError);
      expect(attempt).toThrow(/only postgres:\/\/ and postgresql:\/\/ are supported/);
      expect(attempt).not.toThrow(/topsecret/);
    },
  );

  it("refuses a string that is not a URL without echoing it", () => {
    const attempt = () => selectStore({ databaseUrl: "topsecret", sqliteFile: SQLITE_FILE });
    expect(attempt).toThrow(DatabaseUrlError);
    expect(attempt).not.toThrow(/topsecret/);
  });
});

describe("redactDatabaseUrl", () => {
  it.each([
    ["postgres://hub:p%40ss@db:5432/hub", "postgres://hub:***@db:5432/hub"],
    ["postgres://db/hub?user=hub&password=topsecret&sslmode=require", "postgres://db/hub?user=hub&password=***&sslmode=require"],
    ["postgres://hub@db/hub", "postgres://hub@db/hub"],
    ["not a url topsecret", "<unparsable database URL>"],
  ])("%s shows as %s", (raw, shown) => {
    expect(redactDatabaseUrl(raw)).toBe(shown);
  });
});

describe("openHubStore", () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it("opens the SQLite file when no database URL is given", async () => {
    dir = await mkdtemp(join(tmpdir(), "open-store-"));
    const store = await openHubStore({ sqliteFile: join(dir, "data", "hub.db") });
    try {
      expect(await store.listNodes()).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("names an unreachable PostgreSQL server without its password", async () => {
    // Port 1 on loopback: nothing listens, so the connection is refused at once.
    const attempt = openHubStore({ databaseUrl: "postgres://hub:topsecret@127.0.0.1:1/hub", sqliteFile: SQLITE_FILE });
    await expect(attempt).rejects.toBeInstanceOf(DatabaseConnectionError);
    const err = await attempt.catch((e: unknown) => e);
    expect(String((err as Error).message)).toContain("postgres://hub:***@127.0.0.1:1/hub");
    expect(String((err as Error).message)).toContain("ECONNREFUSED");
    expect(JSON.stringify(err) + String((err as Error).stack)).not.toContain("topsecret");
  });
});
