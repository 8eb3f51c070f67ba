/**
 * One behavioural suite, run against both engines the hub supports.
 *
 * PostgreSQL: the server named by HUB_TEST_DATABASE_URL (default below; `bash test/setup/postgres.sh`
 * provides it). Each test gets its own schema in that database, selected through the connection's
 * `options=-c search_path=...`, and drops it afterwards. No server is a failure, not a skip.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import SQLite from "better-sqlite3";
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { HeartbeatRecord, HubStore, IssuedCertificate, NodeRecord } from "./hub-store.js";
import { SchemaError } from "./migrations.js";
import { openPostgresStore } from "./postgres.js";
import { openSqliteStore } from "./sqlite.js";
import { redactDatabaseUrl } from "./database-url.js";

const DEFAULT_TEST_DATABASE_URL = "postgres://gpunode:gpunode@127.0.0.1:5432/gpunode_test";
const TEST_DATABASE_URL = process.env["HUB_TEST_DATABASE_URL"] || DEFAULT_TEST_DATABASE_URL;

/** 2^256 - 1: the largest uint256, 78 digits. */
const MAX_UINT256 = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
const NEWER_MIGRATION = "9999_from_a_newer_hub";

type Engine = "sqlite" | "postgres";

/** One empty database for one test. */
interface TestDatabase {
  open(): Promise<HubStore>;
  /** Records a migration this build does not know, as a newer hub would have. */
  addAppliedMigration(name: string): Promise<void>;
  dispose(): Promise<void>;
}

interface Engines {
  setUp(): Promise<void>;
  newDatabase(): Promise<TestDatabase>;
  tearDown(): Promise<void>;
}

const sqliteEngine: Engines = {
  async setUp() {},
  async newDatabase() {
    const dir = await mkdtemp(join(tmpdir(), "hub-store-"));
    const file = join(dir, "hub.db");
    return {
      open: () => openSqliteStore(file),
      async addAppliedMigration(name) {
        const raw = new SQLite(file);
        try {
          raw.prepare("insert into kysely_migration (name, timestamp) values (?, ?)").run(name, new Date().toISOString());
        } finally {
          raw.close();
        }
      },
      dispose: () => rm(dir, { recursive: true, force: true }),
    };
  },
  async tearDown() {},
};

function postgresEngine(): Engines {
  let admin: pg.Pool | undefined;
  let counter = 0;
  const adminPool = (): pg.Pool => {
    if (!admin) throw new Error("the PostgreSQL engine was not set up");
    return admin;
  };
  return {
    async setUp() {
      admin = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2, connectionTimeoutMillis: 5_000 });
      admin.on("error", () => undefined); // an idle admin connection dropped: the next query reconnects
      try {
        await admin.query("select 1");
      } catch (err) {
        const pool = admin;
        admin = undefined;
        await pool.end();
        throw new Error(
          `PostgreSQL at ${redactDatabaseUrl(TEST_DATABASE_URL)} does not answer (${describeError(err)}). ` +
            "Run `bash test/setup/postgres.sh` (CI runs it), or point HUB_TEST_DATABASE_URL at a server.",
        );
      }
    },
    async newDatabase() {
      const pool = adminPool();
      const schema = `hub_store_test_${process.pid}_${Date.now().toString(36)}_${++counter}`;
      await pool.query(`create schema ${schema}`);
      const url = new URL(TEST_DATABASE_URL);
      url.searchParams.set("options", `-c search_path=${schema}`);
      return {
        open: () => openPostgresStore(url.toString()),
        async addAppliedMigration(name) {
          await pool.query(`insert into ${schema}.kysely_migration (name, timestamp) values ($1, $2)`, [name, new Date().toISOString()]);
        },
        async dispose() {
          await pool.query(`drop schema if exists ${schema} cascade`);
        },
      };
    },
    async tearDown() {
      await admin?.end();
      admin = undefined;
    },
  };
}

function describeError(err: unknown): string {
  if (err instanceof AggregateError) return err.errors.map(describeError).join("; ");
  return err instanceof Error ? err.message || err.name : String(err);
}

const T0 = new Date("2025-03-01T10:00:00.000Z");
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

function nodeRecord(id: string, overrides: Partial<NodeRecord> = {}): NodeRecord {
  return {
    id,
    wallet: "0x00000000000000000000000000000000000000a1",
    machineId: `machine-${id}`,
    host: `${id}.example.test`,
    apiPort: 7443,
    pricePerSecWei: "1000000000",
    gpus: [{ index: 0, uuid: `GPU-${id}-0`, name: "NVIDIA H100 80GB HBM3", pciBusId: "00000000:18:00.0", memoryTotalBytes: 85_520_809_984 }],
    versions: { daemon: "0.1.0", driver: "550.54.15" },
    notices: [],
    registeredAt: T0,
    updatedAt: T0,
    certSerial: `serial-${id}-0`,
    certNotAfter: at(86_400),
    ...overrides,
  };
}

function heartbeat(nodeId: string, seq: number, receivedAt: Date): HeartbeatRecord {
  return { nodeId, seq, receivedAt, body: { nodeId, seq: String(seq), gpus: [{ index: 0, utilization: 0.5, name: "Ünïcode ✓" }] } };
}

const ENGINES: Record<Engine, Engines> = { sqlite: sqliteEngine, postgres: postgresEngine() };

describe.each(["sqlite", "postgres"] as const)("HubStore on %s", (engine) => {
  const engines = ENGINES[engine];
  let database: TestDatabase;
  let open: HubStore[] = [];

  /** Opens (and migrates) the test's database; afterEach closes what is still open. */
  const openStore = async (): Promise<HubStore> => {
    const store = await database.open();
    open.push(store);
    return store;
  };
  const closeStore = async (store: HubStore): Promise<void> => {
    open = open.filter((s) => s !== store);
    await store.close();
  };

  // A server that does not answer fails every test with the reason (a failing beforeAll
  // would only mark them skipped).
  let unavailable: unknown;
  beforeAll(async () => {
    try {
      await engines.setUp();
    } catch (err) {
      unavailable = err;
    }
  });
  afterAll(() => engines.tearDown());
  beforeEach(async () => {
    if (unavailable !== undefined) throw unavailable;
    database = await engines.newDatabase();
  });
  afterEach(async () => {
    if (unavailable !== undefined) return;
    const stores = open;
    open = [];
    await Promise.all(stores.map((s) => s.close()));
    await database.dispose();
  });

  it("stores, reads and lists nodes in registration order", async () => {
    const store = await openStore();
    const later = nodeRecord("node-b", { registeredAt: at(60), updatedAt: at(60) });
    const earlier = nodeRecord("node-a");
    await store.upsertNode(later);
    await store.upsertNode(earlier);

    expect(await store.getNode("node-a")).toEqual(earlier);
    expect(await store.getNode("node-b")).toEqual(later);
    expect(await store.getNode("node-unknown")).toBeUndefined();
    expect((await store.listNodes()).map((n) => n.id)).toEqual(["node-a", "node-b"]);
  });

  it("upserting a known node updates it but keeps when it registered", async () => {
    const store = await openStore();
    await store.upsertNode(nodeRecord("node-a"));
    const again = nodeRecord("node-a", { host: "moved.example.test", apiPort: 8443, registeredAt: at(600), updatedAt: at(600) });
    await store.upsertNode(again);

    expect(await store.getNode("node-a")).toEqual({ ...again, registeredAt: T0 });
    expect(await store.listNodes()).toHaveLength(1);
  });

  it("finds a node by wallet and machine id", async () => {
    const store = await openStore();
    const wallet = "0x00000000000000000000000000000000000000b2";
    await store.upsertNode(nodeRecord("node-1", { wallet, machineId: "machine-x" }));
    await store.upsertNode(nodeRecord("node-2", { wallet, machineId: "machine-y" }));
    await store.upsertNode(nodeRecord("node-3", { machineId: "machine-x" }));

    expect((await store.findNodeByMachine(wallet, "machine-y"))?.id).toBe("node-2");
    expect((await store.findNodeByMachine(wallet, "machine-x"))?.id).toBe("node-1");
    expect(await store.findNodeByMachine(wallet, "machine-z")).toBeUndefined();
    expect(await store.findNodeByMachine("0x00000000000000000000000000000000000000ff", "machine-x")).toBeUndefined();
  });

  it("records certificates, lists them oldest first and points the node at the last recorded", async () => {
    const store = await openStore();
    await store.upsertNode(nodeRecord("node-a"));
    await store.upsertNode(nodeRecord("node-b"));
    const renewal: IssuedCertificate = { serial: "serial-2", nodeId: "node-a", issuedAt: at(3_600), notAfter: at(90_000), reason: "renewal" };
    const bootstrap: IssuedCertificate = { serial: "serial-1", nodeId: "node-a", issuedAt: T0, notAfter: at(86_400), reason: "bootstrap" };
    const other: IssuedCertificate = { serial: "serial-9", nodeId: "node-b", issuedAt: at(10), notAfter: at(86_410), reason: "bootstrap" };
    await store.recordCertificate(bootstrap);
    await store.recordCertificate(other);
    await store.recordCertificate(renewal);

    expect(await store.listCertificates("node-a")).toEqual([bootstrap, renewal]);
    expect(await store.listCertificates("node-b")).toEqual([other]);
    expect(await store.listCertificates("node-unknown")).toEqual([]);
    const node = await store.getNode("node-a");
    expect(node?.certSerial).toBe("serial-2");
    expect(node?.certNotAfter).toEqual(at(90_000));
  });

  it("orders certificates by when they were issued, not by when they were recorded", async () => {
    const store = await openStore();
    await store.upsertNode(nodeRecord("node-a"));
    const newer: IssuedCertificate = { serial: "serial-b", nodeId: "node-a", issuedAt: at(7_200), notAfter: at(93_600), reason: "renewal" };
    const older: IssuedCertificate = { serial: "serial-a", nodeId: "node-a", issuedAt: at(60), notAfter: at(86_460), reason: "renewal" };
    await store.recordCertificate(newer);
    await store.recordCertificate(older);

    expect((await store.listCertificates("node-a")).map((c) => c.serial)).toEqual(["serial-a", "serial-b"]);
  });

  it("refuses a certificate for a node it does not know", async () => {
    const store = await openStore();
    await expect(
      store.recordCertificate({ serial: "serial-x", nodeId: "node-unknown", issuedAt: T0, notAfter: at(60), reason: "bootstrap" }),
    ).rejects.toThrow();
    expect(await store.listCertificates("node-unknown")).toEqual([]);
  });

  it("keeps the last heartbeat of each node, with seq as a number", async () => {
    const store = await openStore();
    await store.upsertNode(nodeRecord("node-a"));
    await store.upsertNode(nodeRecord("node-b"));
    const bigSeq = 2 ** 40 + 7; // beyond a 32-bit integer
    await store.saveHeartbeats([heartbeat("node-a", 1, at(1)), heartbeat("node-b", bigSeq, at(1))]);
    await store.saveHeartbeats([heartbeat("node-a", 2, at(2)), heartbeat("node-a", 3, at(3))]);
    await store.saveHeartbeats([]);

    const last = (await store.lastHeartbeats()).sort((x, y) => x.nodeId.localeCompare(y.nodeId));
    expect(last).toEqual([heartbeat("node-a", 3, at(3)), heartbeat("node-b", bigSeq, at(1))]);
    for (const hb of last) expect(typeof hb.seq).toBe("number");
  });

  it("writes a heartbeat batch all or nothing", async () => {
    const store = await openStore();
    await store.upsertNode(nodeRecord("node-a"));
    await store.saveHeartbeats([heartbeat("node-a", 1, at(1))]);

    await expect(store.saveHeartbeats([heartbeat("node-a", 2, at(2)), heartbeat("node-unknown", 1, at(2))])).rejects.toThrow();
    expect(await store.lastHeartbeats()).toEqual([heartbeat("node-a", 1, at(1))]);
  });

  it("updates a node's description and leaves its identity alone", async () => {
    const store = await openStore();
    const original = nodeRecord("node-a");
    await store.upsertNode(original);
    const desc = {
      host: "10.0.0.7",
      apiPort: 9443,
      pricePerSecWei: "2500000000",
      gpus: [...original.gpus, { index: 1, uuid: "GPU-node-a-1", name: "NVIDIA H100 80GB HBM3", pciBusId: "00000000:2a:00.0", memoryTotalBytes: 85_520_809_984 }],
      versions: { daemon: "0.2.0", driver: "560.35.03" },
      notices: ["driver updated"],
    };
    await store.updateNodeDescription("node-a", desc, at(300));
    await store.updateNodeDescription("node-unknown", desc, at(300));

    expect(await store.getNode("node-a")).toEqual({ ...original, ...desc, updatedAt: at(300) });
    expect(await store.getNode("node-unknown")).toBeUndefined();
  });

  it("keeps a 78-digit price exactly", async () => {
    const store = await openStore();
    await store.upsertNode(nodeRecord("node-a", { pricePerSecWei: MAX_UINT256 }));
    expect((await store.getNode("node-a"))?.pricePerSecWei).toBe(MAX_UINT256);

    const almost = MAX_UINT256.slice(0, -1) + "4";
    await store.updateNodeDescription("node-a", { ...nodeRecord("node-a"), pricePerSecWei: almost }, at(1));
    expect((await store.listNodes())[0]?.pricePerSecWei).toBe(almost);
  });

  it("migrates once: opening again keeps the data", async () => {
    const first = await openStore();
    await first.upsertNode(nodeRecord("node-a"));
    await closeStore(first);

    const second = await openStore();
    expect((await second.listNodes()).map((n) => n.id)).toEqual(["node-a"]);
    await closeStore(second);
    const third = await openStore();
    expect(await third.getNode("node-a")).toEqual(nodeRecord("node-a"));
  });

  it("refuses a database migrated by a newer hub", async () => {
    await closeStore(await openStore());
    await database.addAppliedMigration(NEWER_MIGRATION);

    const refused = database.open();
    await expect(refused).rejects.toBeInstanceOf(SchemaError);
    await expect(refused).rejects.toThrow(
      `the database was migrated by a newer rental-hub (unknown migrations: ${NEWER_MIGRATION}); upgrade the hub or point it at another database`,
    );
  });

  if (engine === "postgres") {
    it("two hubs starting at once on a fresh database migrate it once", async () => {
      const [a, b] = await Promise.all([openStore(), openStore()]);
      await a.upsertNode(nodeRecord("node-a"));
      expect((await b.getNode("node-a"))?.id).toBe("node-a");
    });

    it("keeps to its own schema: another schema's newer migrations and tables do not count", async () => {
      const neighbour = await engines.newDatabase();
      try {
        const other = await neighbour.open();
        await other.upsertNode(nodeRecord("node-elsewhere"));
        await other.close();
        await neighbour.addAppliedMigration(NEWER_MIGRATION);

        const store = await openStore();
        expect(await store.listNodes()).toEqual([]);
        await store.upsertNode(nodeRecord("node-here"));
        expect((await store.listNodes()).map((n) => n.id)).toEqual(["node-here"]);
      } finally {
        await neighbour.dispose();
      }
    });
  }
});
