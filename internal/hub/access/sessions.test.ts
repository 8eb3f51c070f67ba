// Renter sessions are signed tokens every hub with the same CA accepts: they survive a restart, work
// on another replica of one PostgreSQL, and a sign-out on one hub holds on every hub.
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpError, requestJson } from "../../httpclient/json-client.js";
import { freshPostgresSchema } from "../../../test/support/postgres.js";
import { signIn } from "../../../test/support/renter.js";
import { tempDir } from "../../../test/support/stack.js";
import { enrollNode, nodeOnline, startScriptedNode, startTestHub, type TestHub } from "../../../test/support/test-hub.js";

const rentals = (t: TestHub, token: string) => requestJson<{ rentals: unknown[] }>(t.http, "GET", "/v1/rentals", { bearer: token });
const statusOf = (p: Promise<unknown>) => p.then(() => 200, (err: unknown) => (err instanceof HttpError ? err.status : -1));

describe("renter sessions", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const open: TestHub[] = [];
  beforeAll(async () => {
    dir = await tempDir("sessions");
  });
  afterAll(async () => {
    for (const t of open.splice(0)) await t.hub.close();
    await dir.remove();
  });

  it("stay signed in across a hub restart, and a sign-out holds across it", async () => {
    const first = await startTestHub({ dataDir: dir.path, accessRefreshMs: 100 });
    const token = await signIn(first.http, Wallet.createRandom());
    const other = await signIn(first.http, Wallet.createRandom());
    await requestJson(first.http, "POST", "/v1/auth/signout", { bearer: other });
    await first.hub.close();

    const again = await startTestHub({ dataDir: dir.path, accessRefreshMs: 100 });
    open.push(again);
    expect((await rentals(again, token)).rentals).toEqual([]);
    expect(await statusOf(rentals(again, other))).toBe(401);
  });

  it("work on every replica of one PostgreSQL with one CA (as do node certificates), and a sign-out on one is refused by the other", async () => {
    const shared = await tempDir("replicas");
    const schema = await freshPostgresSchema("sessions");
    try {
      const a = await startTestHub({ dataDir: shared.path, databaseUrl: schema.url, accessRefreshMs: 100 });
      const b = await startTestHub({ dataDir: shared.path, databaseUrl: schema.url, accessRefreshMs: 100 });
      open.push(a, b);
      const token = await signIn(a.http, Wallet.createRandom());
      expect((await rentals(b, token)).rentals).toEqual([]);
      // One CA for both: a node that signed in through one replica holds its stream on the other.
      const creds = await enrollNode(a);
      const node = await startScriptedNode(b, creds, {});
      await nodeOnline(b, creds.nodeId);
      await node.stop();
      await requestJson(a.http, "POST", "/v1/auth/signout", { bearer: token });
      expect(await statusOf(rentals(a, token))).toBe(401);
      // The other replica reads sign-outs every -access-refresh.
      const deadline = Date.now() + 5_000;
      while ((await statusOf(rentals(b, token))) !== 401) {
        if (Date.now() > deadline) throw new Error("replica b still accepts a signed-out token");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      for (const t of open.splice(0)) await t.hub.close();
      await schema.drop();
      await shared.remove();
    }
  });
});
