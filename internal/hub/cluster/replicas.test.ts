// Two hub replicas on one PostgreSQL, in this process: a renter works through one replica while the
// node's stream is on the other, and a node whose replica goes is run by the one it reconnects to.
import { Wallet } from "ethers";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { requestJson } from "../../httpclient/json-client.js";
import type { RentalView } from "../../hubapi/rentals.js";
import type { PublicNodeView } from "../../hubapi/nodes.js";
import { RentalInfo, RentalState, type StartRental } from "../../proto/gen/gpunode/v1/gpunode.js";
import { until } from "../../../test/support/chain.js";
import { freshPostgresSchema } from "../../../test/support/postgres.js";
import { openSse, signIn } from "../../../test/support/renter.js";
import { tempDir } from "../../../test/support/stack.js";
import { enrollNode, nodeOnline, nodePresence, rentalWhere, type ScriptedNode, startScriptedNode, startTestHub, type TestHub } from "../../../test/support/test-hub.js";
import type { CommandHandlers } from "../../channel/command-dispatcher.js";
import { defaultHubOptions, type HubOptions } from "../options.js";

const running = (rentalId: string): RentalInfo =>
  RentalInfo.fromPartial({ rentalId, state: RentalState.RENTAL_STATE_RUNNING, gpuIndices: [0], startedAt: new Date().toISOString(), ssh: { host: "127.0.0.1", port: 2201, user: "renter", command: "ssh -p 2201 renter@127.0.0.1", hostKeyFingerprint: "SHA256:test" } });

/** Resolves once the replica sees the node's stream as open on some replica (at once if it does). */
async function seesConnected(t: TestHub, nodeId: string): Promise<void> {
  await until(async () => t.hub.cluster?.isConnected(nodeId), `the replica sees node ${nodeId} connected`, 10_000, 20);
}

describe("hub replicas on one PostgreSQL", () => {
  let shared: Awaited<ReturnType<typeof tempDir>>;
  let schema: Awaited<ReturnType<typeof freshPostgresSchema>>;
  let a: TestHub;
  let b: TestHub;
  let token: string;
  let machine = 0;
  const nodes: ScriptedNode[] = [];
  const options = (): Partial<HubOptions> => ({
    dataDir: shared.path,
    databaseUrl: schema.url,
    heartbeatIntervalMs: 60_000,
    replica: { ttlMs: 1_500, renewMs: 300, resyncMs: 2_000 },
    rentals: { ...defaultHubOptions.rentals, commandTimeoutMs: 3_000 },
  });
  const rentOn = (t: TestHub, nodeId: string, extra: Record<string, unknown> = {}) =>
    requestJson<RentalView>(t.http, "POST", "/v1/rentals", { bearer: token, body: { nodeId, image: "busybox", command: ["sleep", "1000"], ...extra } });
  const connect = async (t: TestHub, creds: Awaited<ReturnType<typeof enrollNode>>, handlers: CommandHandlers, rentals: RentalInfo[] = []) => {
    const n = await startScriptedNode(t, creds, handlers, rentals);
    nodes.push(n);
    return n;
  };

  beforeAll(async () => {
    shared = await tempDir("replicas");
    schema = await freshPostgresSchema("replicas");
    a = await startTestHub(options());
    b = await startTestHub(options());
    token = await signIn(a.http, Wallet.createRandom());
  });
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()));
  });
  afterAll(async () => {
    await a?.hub.close();
    await b?.hub.close();
    await schema?.drop();
    await shared?.remove();
  });

  it("starts, reads the logs of and stops a rental made on one replica, on a node whose stream is on the other; both replicas show the same", async () => {
    const creds = await enrollNode(a, { machineId: (++machine).toString(16).padStart(64, "0") });
    const stops: string[] = [];
    const node = await connect(b, creds, {
      startRental: async (cmd: StartRental) => ({ $case: "rental", value: running(cmd.rentalId) }),
      getRentalLogs: async (cmd) => ({ $case: "rentalLogs", value: { rentalId: cmd.rentalId, text: "hello from the node\n" } }),
      stopRental: async (cmd) => {
        stops.push(cmd.rentalId);
        return { $case: "rental", value: RentalInfo.fromPartial({ rentalId: cmd.rentalId, state: RentalState.RENTAL_STATE_STOPPED, startedAt: new Date().toISOString(), endedAt: new Date().toISOString() }) };
      },
    });
    await node.beat();
    await seesConnected(a, creds.nodeId);
    expect(b.hub.cluster?.owns(creds.nodeId)).toBe(true);
    expect(a.hub.cluster?.owns(creds.nodeId)).toBe(false);

    const sse = await openSse(`${a.http.baseUrl}/v1/events`, { token, ca: a.http.ca });
    await sse.next("snapshot");
    const created = await rentOn(a, creds.nodeId);
    // The start ran on b (which holds the stream); a hears it and its live stream says so.
    await sse.next("rental", (d) => d.rental.id === created.id && d.rental.status === "running");
    expect((await rentalWhere(b, created.id, (r) => r.status === "running")).gpuIndices).toEqual([0]);

    const viewOnA = await requestJson<PublicNodeView>(a.http, "GET", `/v1/nodes/${creds.nodeId}`);
    expect(viewOnA).toMatchObject({ status: "online", connected: true });

    const logs = await requestJson<{ text: string }>(a.http, "GET", `/v1/rentals/${created.id}/logs?tail=10`, { bearer: token });
    expect(logs.text).toBe("hello from the node\n");

    const stopped = await requestJson<RentalView>(a.http, "POST", `/v1/rentals/${created.id}/stop`, { bearer: token });
    expect(stopped.status).toBe("stopped");
    expect(stops).toEqual([created.id]);
    expect((await requestJson<RentalView>(b.http, "GET", `/v1/rentals/${created.id}`, { bearer: token })).status).toBe("stopped");
    sse.close();
  });

  it("shows a node online, then offline after three missed heartbeats at its owner, on the other replica too", async () => {
    const creds = await enrollNode(a, { machineId: (++machine).toString(16).padStart(64, "0") });
    const online = nodePresence(a, creds.nodeId, "online");
    const node = await connect(b, creds, {});
    await node.beat();
    await online;
    b.hub.channel.setHeartbeatInterval(100);
    try {
      // Counted at the new interval from the next heartbeat on.
      await node.beat();
      const offline = nodePresence(a, creds.nodeId, "offline");
      await node.stop();
      await offline;
      expect(b.hub.presence.status(creds.nodeId)).toBe("offline");
      expect((await requestJson<PublicNodeView>(a.http, "GET", `/v1/nodes/${creds.nodeId}`)).status).toBe("offline");
    } finally {
      b.hub.channel.setHeartbeatInterval(60_000);
    }
  });

  it("answers a renter's 409 from the owner as itself, and places nothing when the node refuses", async () => {
    const creds = await enrollNode(a, { machineId: (++machine).toString(16).padStart(64, "0") });
    const node = await connect(b, creds, { startRental: async () => ({ $case: "error", value: { code: "no_free_gpus", message: "every GPU is rented" } }) });
    await node.beat();
    await seesConnected(a, creds.nodeId);
    const created = await rentOn(a, creds.nodeId);
    const failed = await rentalWhere(a, created.id, (r) => r.status === "failed");
    expect(failed.reason).toContain("no_free_gpus");
    const tooCheap = await rentOn(a, creds.nodeId, { maxPricePerSecWei: "1" }).catch((err: unknown) => err);
    expect(tooCheap).toMatchObject({ status: 409, code: "price_above_max" });
  });

  it("moves a node to the replica its new stream lands on: the old one lets go, the new one runs its rentals and stops them", async () => {
    const creds = await enrollNode(a, { machineId: (++machine).toString(16).padStart(64, "0") });
    const handlers: CommandHandlers = {
      startRental: async (cmd: StartRental) => ({ $case: "rental", value: running(cmd.rentalId) }),
      stopRental: async (cmd) => ({ $case: "rental", value: RentalInfo.fromPartial({ rentalId: cmd.rentalId, state: RentalState.RENTAL_STATE_STOPPED, startedAt: new Date().toISOString(), endedAt: new Date().toISOString() }) }),
    };
    const onB = await connect(b, creds, handlers);
    await onB.beat();
    const created = await rentOn(a, creds.nodeId);
    await rentalWhere(a, created.id, (r) => r.status === "running");

    // The balancer sends the node's next stream to a (as when b dies or the network blips).
    const onA = await connect(a, creds, handlers, [running(created.id)]);
    await onA.beat();
    await nodeOnline(a, creds.nodeId);
    expect(a.hub.cluster?.owns(creds.nodeId)).toBe(true);
    await until(async () => !b.hub.cluster?.owns(creds.nodeId) && !b.hub.channel.isConnected(creds.nodeId), "b lets go of the node after its stream moved to a", 5_000, 20);
    expect((await b.hub.store.rentals.get(created.id))?.status).toBe("running");
    const stopped = await requestJson<RentalView>(b.http, "POST", `/v1/rentals/${created.id}/stop`, { bearer: token });
    expect(stopped.status).toBe("stopped");
  });

  it("adopts the nodes of a replica that is gone: a survivor enforces their limits, and stops the rental on the node when it is back", async () => {
    const c = await startTestHub(options());
    const creds = await enrollNode(a, { machineId: (++machine).toString(16).padStart(64, "0") });
    const stops: string[] = [];
    const handlers: CommandHandlers = {
      startRental: async (cmd: StartRental) => ({ $case: "rental", value: running(cmd.rentalId) }),
      stopRental: async (cmd) => {
        stops.push(cmd.rentalId);
        return { $case: "rental", value: RentalInfo.fromPartial({ rentalId: cmd.rentalId, state: RentalState.RENTAL_STATE_STOPPED, startedAt: new Date().toISOString(), endedAt: new Date().toISOString() }) };
      },
    };
    const onC = await startScriptedNode(c, creds, handlers);
    await onC.beat();
    const created = await rentOn(a, creds.nodeId, { maxDurationSeconds: 3 });
    await rentalWhere(a, created.id, (r) => r.status === "running");
    await onC.stop();
    await c.close();

    // Nobody holds the node's stream: the replica that adopted it stops the rental at its limit.
    const ended = await rentalWhere(a, created.id, (r) => r.status === "stopped");
    expect(ended.reason).toContain("duration limit reached");
    expect([a, b].filter((t) => t.hub.cluster?.owns(creds.nodeId))).toHaveLength(1);
    expect(stops).toEqual([]);

    // The node comes back (through the balancer, on b) still running it: it is told to stop it.
    const onB = await connect(b, creds, handlers, [running(created.id)]);
    await onB.beat();
    await until(async () => stops.includes(created.id), "the node is told to stop the rental that ended while it was away", 5_000, 20);
  });
});
