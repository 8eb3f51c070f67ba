// Leases on both engines, with the same code: one holder at a time, handed on when released or when
// the holder stops renewing (it died), and a second hub on one SQLite file refused.
import { hostname } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshPostgresSchema } from "../../../test/support/postgres.js";
import { quietLogger, startTestHub, type TestHub } from "../../../test/support/test-hub.js";
import { tempDir } from "../../../test/support/stack.js";
import { Lease } from "../cluster/lease.js";
import type { HubStore } from "./hub-store.js";
import { openHubStore } from "./open-store.js";

describe.each(["sqlite", "postgres"] as const)("leases on %s", (engine) => {
  let store: HubStore;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    if (engine === "sqlite") {
      const dir = await tempDir("leases");
      store = await openHubStore({ sqliteFile: join(dir.path, "hub.db") });
      cleanup = dir.remove;
    } else {
      const schema = await freshPostgresSchema("leases");
      store = await openHubStore({ databaseUrl: schema.url, sqliteFile: "" });
      cleanup = schema.drop;
    }
  });
  afterAll(async () => {
    await store?.close();
    await cleanup?.();
  });

  const lease = (name: string, ttlMs: number) => new Lease({ name, ttlMs, renewMs: ttlMs / 3 }, { store: store.leases, logger: quietLogger });

  it("has one holder; a released lease goes to the next hub that asks", async () => {
    const [a, b] = [lease("work", 10_000), lease("work", 10_000)];
    const [first, second] = await Promise.all([a.tryOnce(), b.tryOnce()]);
    expect(first.holder).toBe(second.holder);
    expect([a.held, b.held].filter(Boolean)).toHaveLength(1);
    const [holder, other] = a.held ? [a, b] : [b, a];
    expect((await holder.tryOnce()).holder).toBe(holder.holder); // renewing keeps it
    await holder.close();
    expect((await other.tryOnce()).holder).toBe(other.holder);
    expect(other.held).toBe(true);
    await other.close();
  });

  it("passes to another hub once a holder that stopped renewing (died) lets it expire", async () => {
    const dead = lease("expiring", 300);
    const next = lease("expiring", 300);
    await dead.tryOnce();
    expect((await next.tryOnce()).holder).toBe(dead.holder);
    const acquired = new Promise<void>((resolve) => next.once("acquired", () => resolve()));
    next.start();
    await acquired;
    expect(next.held).toBe(true);
    expect(dead.held).toBe(false); // on its own clock too
    await next.close();
  });
});

describe("one hub per SQLite file", () => {
  let first: TestHub | undefined;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    dir = await tempDir("single-hub");
  });
  afterAll(async () => {
    await first?.close();
    await dir.remove();
  });

  it("refuses a second hub on the same data dir, naming the first, and starts once the first is gone", async () => {
    first = await startTestHub({ dataDir: dir.path, databaseUrl: undefined });
    await expect(startTestHub({ dataDir: dir.path, databaseUrl: undefined })).rejects.toThrow(/another rental-hub \(.+:\d+:[0-9a-f]{8}\) uses the SQLite database .*hub\.db: SQLite serves one hub/);
    await first.hub.close();
    first = undefined;
    const second = await startTestHub({ dataDir: dir.path, databaseUrl: undefined });
    await second.hub.close();
  });

  it("takes over at once from a hub on this machine whose process is gone", async () => {
    const store = await openHubStore({ sqliteFile: join(dir.path, "hub.db") });
    // What a SIGKILLed hub leaves: its lease, unexpired, naming a process that no longer exists.
    await store.leases.take("sqlite-hub", `${hostname()}:2147483646:deadbeef`, 60_000, Date.now());
    await store.close();
    const restarted = await startTestHub({ dataDir: dir.path, databaseUrl: undefined });
    await restarted.hub.close();
  });
});
