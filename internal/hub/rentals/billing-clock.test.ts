import { Wallet } from "ethers";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { CommandHandlers } from "../../channel/command-dispatcher.js";
import { requestJson } from "../../httpclient/json-client.js";
import { RentalInfo, RentalState, type StartRental } from "../../proto/gen/gpunode/v1/gpunode.js";
import { signIn } from "../../../test/support/renter.js";
import { tempDir } from "../../../test/support/stack.js";
import { enrollNode, rentalWhere, type ScriptedNode, startScriptedNode, startTestHub, type TestHub } from "../../../test/support/test-hub.js";
import type { NodeCredentials } from "../../certs/credentials.js";
import type { RentalView } from "../../hubapi/rentals.js";

const HOUR = 3_600_000;
const iso = (ms: number): string => new Date(ms).toISOString();

/** What a rental costs when its node's clock lies or its node goes away: the hub bills what it can vouch for. */
describe("billing against a node's clock and absences", () => {
  const renter = Wallet.createRandom();
  let t: TestHub;
  let token: string;
  let machine = 0;
  const nodes: ScriptedNode[] = [];

  /** A node whose starts run at once, claiming whatever start time `claimedStart` gives. */
  const handlers = (claimedStart: () => string = () => iso(Date.now())): CommandHandlers => ({
    startRental: async (cmd: StartRental) => ({ $case: "rental", value: RentalInfo.fromPartial({ rentalId: cmd.rentalId, state: RentalState.RENTAL_STATE_RUNNING, startedAt: claimedStart() }) }),
  });
  const connect = async (creds: NodeCredentials, h: CommandHandlers, rentals: RentalInfo[] = []) => {
    const n = await startScriptedNode(t, creds, h, rentals);
    nodes.push(n);
    return n;
  };
  const rent = async (nodeId: string) => {
    const r = await requestJson<RentalView>(t.http, "POST", "/v1/rentals", { bearer: token, body: { nodeId, gpuCount: 0, image: "busybox", command: ["sleep", "1000"] } });
    return rentalWhere(t, r.id, (x) => x.status === "running");
  };
  const view = (id: string) => requestJson<RentalView>(t.http, "GET", `/v1/rentals/${id}`, { bearer: token });

  beforeAll(async () => {
    // Heartbeats every 200 ms: a node is offline 3 missed beats after it goes.
    t = await startTestHub({ heartbeatIntervalMs: 200 });
    token = await signIn(t.http, renter);
  });
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()));
  });
  afterAll(() => t?.close());

  it("clamps the node's clock: no start before the hub made the rental, no end after the hub heard of it", async () => {
    const creds = await enrollNode(t, { machineId: (++machine).toString(16).padStart(64, "0") });
    const n = await connect(creds, handlers(() => iso(Date.now() - HOUR)));
    const r = await rent(creds.nodeId);
    expect(r.startedAt!.getTime()).toBe(r.createdAt.getTime());

    n.link.notify({ $case: "rentalEvent", value: { rental: RentalInfo.fromPartial({ rentalId: r.id, state: RentalState.RENTAL_STATE_EXITED, exitCode: 0, startedAt: iso(Date.now() - HOUR), endedAt: iso(Date.now() + HOUR) }) } });
    const ended = await rentalWhere(t, r.id, (x) => x.status === "exited");
    expect(ended.startedAt).toEqual(r.startedAt);
    expect(ended.endedAt!.getTime()).toBeLessThanOrEqual(Date.now());
    expect((await view(r.id)).secondsUsed).toBeLessThan(60);
  });

  it("pauses billing where the node was last seen, and settles by what the node says on its return", async () => {
    const creds = await enrollNode(t, { machineId: (++machine).toString(16).padStart(64, "0") });
    const n = await connect(creds, handlers());
    const [vanished, ranOn, endedAway] = [await rent(creds.nodeId), await rent(creds.nodeId), await rent(creds.nodeId)];
    await n.stop();
    const away = await rentalWhere(t, vanished.id, (x) => x.status === "node_offline");
    const lastSeen = away.offlineSince!;
    expect(lastSeen.getTime()).toBeLessThan(Date.now());
    const whileAway = await view(vanished.id);
    expect(whileAway.secondsUsed).toBe(Math.ceil((lastSeen.getTime() - vanished.startedAt!.getTime()) / 1000));

    // Back: one rental gone without a word, one still running, one that ended while the node was away.
    const endedAt = Date.now();
    await connect(creds, handlers(), [
      RentalInfo.fromPartial({ rentalId: ranOn.id, state: RentalState.RENTAL_STATE_RUNNING, startedAt: iso(ranOn.startedAt!.getTime()) }),
      RentalInfo.fromPartial({ rentalId: endedAway.id, state: RentalState.RENTAL_STATE_EXITED, exitCode: 0, startedAt: iso(endedAway.startedAt!.getTime()), endedAt: iso(endedAt) }),
    ]);
    expect(await rentalWhere(t, vanished.id, (x) => x.status === "exited")).toMatchObject({ endedAt: lastSeen, exitCode: null, reason: expect.stringContaining("billed until the node was last seen") });
    expect(await rentalWhere(t, ranOn.id, (x) => x.status === "running")).toMatchObject({ offlineSince: null, endedAt: null });
    expect((await rentalWhere(t, endedAway.id, (x) => x.status === "exited")).endedAt).toEqual(new Date(endedAt));
  });

  it("delivers a rental's end reported while the stream was down once the node is back, exit code and all", async () => {
    const creds = await enrollNode(t, { machineId: (++machine).toString(16).padStart(64, "0") });
    const n = await connect(creds, handlers());
    const r = await rent(creds.nodeId);
    const reconnected = new Promise((resolve) => n.link.once("connected", resolve));
    n.link.reconnect("a network blip");
    // The job ends during the blip; by the time the node is back its heartbeat no longer lists it.
    n.link.notify({ $case: "rentalEvent", value: { rental: RentalInfo.fromPartial({ rentalId: r.id, state: RentalState.RENTAL_STATE_EXITED, exitCode: 9, startedAt: iso(r.startedAt!.getTime()), endedAt: iso(Date.now()) }) } });
    n.rentals = [];
    await reconnected;
    expect(await rentalWhere(t, r.id, (x) => x.status !== "running")).toMatchObject({ status: "exited", exitCode: 9 });
  });

  it("stops billing a node that never comes back after a hub restart: its rentals go offline where it was last seen", async () => {
    const dir = await tempDir("billing-restart");
    try {
      const first = await startTestHub({ heartbeatIntervalMs: 200, dataDir: dir.path });
      const creds = await enrollNode(first, { machineId: (++machine).toString(16).padStart(64, "0") });
      const n = await startScriptedNode(first, creds, handlers());
      const created = await requestJson<RentalView>(first.http, "POST", "/v1/rentals", { bearer: await signIn(first.http, renter), body: { nodeId: creds.nodeId, gpuCount: 0, image: "busybox", command: ["sleep", "1000"] } });
      await rentalWhere(first, created.id, (x) => x.status === "running");
      await n.beat();
      const lastSeen = Date.now();
      // The node dies while the hub is down: the hub that comes back never hears from it.
      await n.stop();
      await first.hub.close();
      const again = await startTestHub({ heartbeatIntervalMs: 200, dataDir: dir.path });
      try {
        const away = await rentalWhere(again, created.id, (x) => x.status === "node_offline");
        expect(away.offlineSince!.getTime()).toBeLessThanOrEqual(lastSeen);
      } finally {
        await again.close();
      }
    } finally {
      await dir.remove();
    }
  });
});
