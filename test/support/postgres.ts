import pg from "pg";

export const TEST_DATABASE_URL = process.env.HUB_TEST_DATABASE_URL || "postgres://gpunode:gpunode@127.0.0.1:5432/gpunode_test";

/** An empty schema in the test database, and the URL that makes a hub use it. `bash test/setup/postgres.sh` provides the server. */
export async function freshPostgresSchema(prefix: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const schema = `${prefix}_${process.pid}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const admin = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1, connectionTimeoutMillis: 5_000 });
  admin.on("error", () => undefined);
  try {
    await admin.query(`create schema "${schema}"`);
  } catch (err) {
    await admin.end();
    throw new Error(`PostgreSQL at ${TEST_DATABASE_URL.replace(/:[^:@/]*@/, ":***@")} does not answer (${(err as Error).message}); run bash test/setup/postgres.sh`);
  }
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set("options", `-c search_path=${schema}`);
  return {
    url: url.toString(),
    drop: async () => {
      await admin.query(`drop schema if exists "${schema}" cascade`);
      await admin.end();
    },
  };
}

/** The schema a test hub with this data dir uses when HUB_TEST_STORE=postgres: restarting a hub on the same data dir finds its data again. */
export async function schemaForDataDir(dataDir: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const { createHash } = await import("node:crypto");
  const schema = `hub_${createHash("sha256").update(dataDir).digest("hex").slice(0, 20)}`;
  const admin = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1, connectionTimeoutMillis: 5_000 });
  admin.on("error", () => undefined);
  try {
    await admin.query(`create schema if not exists "${schema}"`);
  } catch (err) {
    await admin.end();
    throw new Error(`PostgreSQL at ${TEST_DATABASE_URL.replace(/:[^:@/]*@/, ":***@")} does not answer (${(err as Error).message}); run bash test/setup/postgres.sh`);
  }
  await admin.end();
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set("options", `-c search_path=${schema}`);
  return {
    url: url.toString(),
    drop: async () => {
      const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
      pool.on("error", () => undefined);
      try {
        await pool.query(`drop schema if exists "${schema}" cascade`);
      } finally {
        await pool.end();
      }
    },
  };
}
