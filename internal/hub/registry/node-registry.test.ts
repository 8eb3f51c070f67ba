import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { enrollNode, nodeInfo, startTestHub, type TestHub } from "../../../test/support/test-hub.js";

describe("node registration through the hub's REST API", () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub();
  });
  afterAll(() => t.close());

  it("makes two machines of one wallet two nodes", async () => {
    const wallet = Wallet.createRandom();
    const a = await enrollNode(t, { wallet, machineId: "1".repeat(64) });
    const b = await enrollNode(t, { wallet, machineId: "2".repeat(64) });
    expect(a.nodeId).not.toBe(b.nodeId);
    const nodes = (await t.hub.store.listNodes()).filter((n) => n.wallet === wallet.address);
    expect(nodes.map((n) => n.id).sort()).toEqual([a.nodeId, b.nodeId].sort());
  });

  it("keeps the node id when the same machine registers again, by id or by machine", async () => {
    const wallet = Wallet.createRandom();
    const first = await enrollNode(t, { wallet, machineId: "3".repeat(64) });
    const byMachine = await enrollNode(t, { wallet, machineId: "3".repeat(64) });
    const byId = await enrollNode(t, { wallet, machineId: "4".repeat(64), previousNodeId: first.nodeId });
    expect(byMachine.nodeId).toBe(first.nodeId);
    expect(byId.nodeId).toBe(first.nodeId);
    const certs = await t.hub.store.listCertificates(first.nodeId);
    expect(certs.map((c) => c.reason)).toEqual(["bootstrap", "bootstrap", "bootstrap"]);
  });

  it("refuses to hand one wallet's node id to another wallet", async () => {
    const owner = await enrollNode(t, { wallet: Wallet.createRandom(), machineId: "5".repeat(64) });
    const err = await enrollNode(t, { wallet: Wallet.createRandom(), machineId: "6".repeat(64), previousNodeId: owner.nodeId }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "node_owned_by_other_wallet" });
    expect((await t.hub.store.getNode(owner.nodeId))?.machineId).toBe("5".repeat(64));
  });

  it("stores a price of any size exactly", async () => {
    const price = "123456789012345678901234567890";
    const creds = await enrollNode(t, { info: nodeInfo({ pricePerSecWei: price }) });
    expect((await t.hub.store.getNode(creds.nodeId))?.pricePerSecWei).toBe(price);
  });

  it("refuses a price that is not a whole number of wei, and stores nothing", async () => {
    const before = (await t.hub.store.listNodes()).length;
    const err = await enrollNode(t, { info: nodeInfo({ pricePerSecWei: "1.5" }) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "invalid_request" });
    expect((err as Error).message).toContain("info.pricePerSecWei");
    expect((await t.hub.store.listNodes()).length).toBe(before);
  });
});
