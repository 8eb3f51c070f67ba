import { Wallet } from "ethers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CommandHandlers } from "../../channel/command-dispatcher.js";
import { requestJson } from "../../httpclient/json-client.js";
import { GpuActivity, type GpuStatus, RentalInfo, RentalState, type StartRental } from "../../proto/gen/gpunode/v1/gpunode.js";
import { signIn } from "../../../test/support/renter.js";
import { enrollNode, nodeInfo, rentalWhere, type ScriptedNode, startScriptedNode, startTestHub, type TestHub } from "../../../test/support/test-hub.js";
import type { RentalView } from "../../hubapi/rentals.js";

const H100 = "NVIDIA H100 80GB HBM3";
const A100 = "NVIDIA A100-SXM4-40GB";

function gpu(index: number, name: string, activity = GpuActivity.GPU_ACTIVITY_MINING): GpuStatus {
  return {
    index, uuid: `GPU-${index}`, name, activity, rentalId: "", healthy: true, error: "", utilizationGpuPercent: 0, utilizationMemoryPercent: 0,
    memoryTotalBytes: 80e9, memoryUsedBytes: 0, memoryFreeBytes: 80e9, temperatureCelsius: 40, powerDrawMilliwatts: 0, powerLimitMilliwatts: 0, pciBusId: "",
  };
}

/** Where the hub places rentals: by model, price and what is free, with real nodes' channels and a real store. */
describe("scheduling: which node and which GPUs a rental gets", () => {
  const renter = Wallet.createRandom();
  let t: TestHub;
  let token: string;
  let machine = 0;
  const nodes: ScriptedNode[] = [];

  /** A node at a price with these GPUs in its heartbeat; records every start it is sent. */
  async function node(price: string, gpus: GpuStatus[]) {
    const info = nodeInfo({ pricePerSecWei: price, gpus: gpus.map((g) => ({ index: g.index, uuid: g.uuid, name: g.name, pciBusId: "", memoryTotalBytes: g.memoryTotalBytes })) });
    const creds = await enrollNode(t, { machineId: (++machine).toString(16).padStart(64, "0"), info });
    const starts: StartRental[] = [];
    let given = 0;
    const handlers: CommandHandlers = {
      // As a daemon answers: the GPUs it gave, in order (its heartbeats below keep saying they are free).
      startRental: async (cmd: StartRental) => {
        starts.push(cmd);
        const count = cmd.gpus?.count ?? 0;
        const gpuIndices = gpus.slice(given, given + count).map((g) => g.index);
        given += count;
        return { $case: "rental", value: RentalInfo.fromPartial({ rentalId: cmd.rentalId, state: RentalState.RENTAL_STATE_RUNNING, gpuIndices, startedAt: new Date().toISOString() }) };
      },
    };
    const n = await startScriptedNode(t, creds, handlers, [], info);
    nodes.push(n);
    n.more = { gpus };
    // The node's first heartbeat (at connect) may not carry them yet: wait for one that does.
    const recorded = new Promise<void>((resolve) => t.hub.channel.events.on("heartbeat", (id, hb) => id === creds.nodeId && hb.gpus.length === gpus.length && resolve()));
    await n.beat();
    await recorded;
    return { id: creds.nodeId, starts };
  }
  const rent = (body: Record<string, unknown>) => requestJson<RentalView>(t.http, "POST", "/v1/rentals", { bearer: token, body: { image: "busybox", command: ["true"], ...body } });

  // A hub per test: no node of an earlier test may still be online when the next one picks.
  beforeEach(async () => {
    t = await startTestHub({ heartbeatIntervalMs: 60_000 });
    token = await signIn(t.http, renter);
  });
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()));
    await t?.close();
  });

  it("sends the asked model to the node, so a mixed node hands out only that model", async () => {
    const mixed = await node("5", [gpu(0, A100), gpu(1, H100)]);
    const r = await rent({ gpuCount: 1, gpuModel: "h100" });
    expect(r.nodeId).toBe(mixed.id);
    await rentalWhere(t, r.id, (x) => x.status === "running");
    expect(mixed.starts.at(-1)?.gpus).toEqual({ count: 1, ids: [], model: "h100" });
  });

  it("sends concurrent 'any node' requests to different nodes instead of colliding on one", async () => {
    const a = await node("7", [gpu(0, H100)]);
    const b = await node("7", [gpu(0, H100)]);
    const placed = await Promise.all([rent({ gpuCount: 1 }), rent({ gpuCount: 1 })]);
    expect(placed.map((r) => r.nodeId).sort()).toEqual([a.id, b.id].sort());
    // Two creates begun in the same tick pick while neither is placed yet: still two nodes.
    const c = await node("7", [gpu(0, H100)]);
    const d = await node("7", [gpu(0, H100)]);
    const ask = { image: "busybox", command: ["true"], gpuCount: 1, gpuIds: [], gpuModel: "", cpuMillis: 0, memoryBytes: 0, sshPublicKeys: [], maxDurationSeconds: 0, nodeId: "", maxPricePerSecWei: "" };
    const together = await Promise.all([t.hub.rentals.create(renter.address, ask), t.hub.rentals.create(renter.address, ask)]);
    expect(together.map((r) => r.nodeId).sort()).toEqual([c.id, d.id].sort());
    // Both GPUs are promised now, whatever the nodes' last heartbeats say.
    await expect(rent({ gpuCount: 1 })).rejects.toMatchObject({ status: 409, code: "no_capacity" });
  });

  it("picks the cheapest node that fits, within the renter's maximum price", async () => {
    const dear = await node("300", [gpu(0, H100), gpu(1, H100)]);
    const cheap = await node("100", [gpu(0, H100)]);
    expect((await rent({ gpuCount: 1 })).nodeId).toBe(cheap.id);
    // The cheap one is taken: the next goes to the dearer one, unless that is above the renter's limit.
    await expect(rent({ gpuCount: 1, maxPricePerSecWei: "299" })).rejects.toMatchObject({ status: 409, code: "no_capacity", message: expect.stringContaining("299 wei/s or less") });
    expect((await rent({ gpuCount: 1, maxPricePerSecWei: "300" })).nodeId).toBe(dear.id);
    await expect(rent({ nodeId: dear.id, gpuCount: 1, maxPricePerSecWei: "200" })).rejects.toMatchObject({ status: 409, code: "price_above_max" });
    await expect(rent({ gpuCount: 1, maxPricePerSecWei: "1.5" })).rejects.toMatchObject({ status: 400, code: "invalid_request" });
  });

  it("rents CPU-only nodes for CPU-only rentals, keeping GPU nodes for GPU work", async () => {
    await node("10", [gpu(0, H100)]);
    const cpu = await node("10", []);
    const r = await rent({ gpuCount: 0 });
    expect(r.nodeId).toBe(cpu.id);
    await rentalWhere(t, r.id, (x) => x.status === "running");
    expect(cpu.starts.at(-1)?.gpus).toEqual({ count: 0, ids: [], model: "" });
  });
});
