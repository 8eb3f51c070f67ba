import { Wallet } from "ethers";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { NodeCredentials } from "../../certs/cert-dir.js";
import type { CommandHandlers } from "../../channel/command-dispatcher.js";
import { requestJson } from "../../httpclient/json-client.js";
import { RentalInfo, RentalState, type StartRental } from "../../proto/gen/gpunode/v1/gpunode.js";
import { captureLogs } from "../../../test/support/log-capture.js";
import { openSse, signIn } from "../../../test/support/renter.js";
import { enrollNode, rentalWhere as rentalOf, type ScriptedNode, startScriptedNode, startTestHub, type TestHub } from "../../../test/support/test-hub.js";
import { defaultHubOptions } from "../options.js";
import type { RentalView } from "../../hubapi/rentals.js";
import type { HubRental } from "../store/rental-store.js";

const running = (rentalId: string): RentalInfo =>
  RentalInfo.fromPartial({
    rentalId,
    state: RentalState.RENTAL_STATE_RUNNING,
    gpuIndices: [0],
    startedAt: new Date().toISOString(),
    ssh: { host: "127.0.0.1", port: 2201, user: "renter", command: "ssh -p 2201 renter@127.0.0.1", hostKeyFingerprint: "SHA256:test" },
  });

/** Never answers; gives up when the node stops. */
const silent = (_cmd: unknown, signal: AbortSignal): Promise<never> => new Promise((_, reject) => signal.addEventListener("abort", () => reject(new Error("node stopped"))));

/** Resolves with each command's rental id as the node receives it. */
function inbox() {
  const seen: string[] = [];
  const waiting = new Map<string, () => void>();
  return {
    seen,
    take: (id: string): void => {
      seen.push(id);
      waiting.get(id)?.();
    },
    received: (id: string): Promise<void> => (seen.includes(id) ? Promise.resolve() : new Promise((resolve) => waiting.set(id, resolve))),
  };
}

/**
 * The rental book against a real hub (HTTPS, gRPC over mTLS, SQLite or PostgreSQL) and scripted
 * nodes that answer, stay silent or vanish when the test says. Heartbeats come only when asked.
 */
describe("the rental book and what nodes report", () => {
  const renter = Wallet.createRandom();
  let t: TestHub;
  const logs = captureLogs("warn");
  let token: string;
  const nodes: ScriptedNode[] = [];
  let machine = 0;

  const call = <T>(method: string, path: string) => requestJson<T>(t.http, method, path, { bearer: token });
  const rent = (nodeId: string) => requestJson<RentalView>(t.http, "POST", "/v1/rentals", { bearer: token, body: { nodeId, image: "busybox", command: ["sleep", "1000"] } });
  const node = async (creds: NodeCredentials, handlers: CommandHandlers, rentals?: RentalInfo[]) => {
    const n = await startScriptedNode(t, creds, handlers, rentals);
    nodes.push(n);
    return n;
  };
  const enroll = async () => enrollNode(t, { machineId: (++machine).toString(16).padStart(64, "0") });
  const rentalWhere = (id: string, match: (r: HubRental) => boolean): Promise<HubRental> => rentalOf(t, id, match);

  beforeAll(async () => {
    t = await startTestHub({ heartbeatIntervalMs: 60_000, rentals: { ...defaultHubOptions.rentals, commandTimeoutMs: 1_000 } }, logs.logger);
    token = await signIn(t.http, renter);
  });
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()));
  });
  afterAll(() => t?.close());

  it("writes nothing for a heartbeat that changes nothing: no rental frame goes out until the node reports a change", async () => {
    const creds = await enroll();
    const n = await node(creds, { startRental: async (cmd: StartRental) => ({ $case: "rental", value: running(cmd.rentalId) }) });
    const sse = await openSse(`${t.http.baseUrl}/v1/events`, { token, ca: t.http.ca });
    await sse.next("snapshot");
    const created = await rent(creds.nodeId);
    const started = (await sse.next("rental", (d) => d.rental.id === created.id && d.rental.status === "running")).rental;

    const from = sse.events.length;
    n.rentals = [RentalInfo.fromPartial({ ...running(created.id), startedAt: started.startedAt ?? "" })];
    for (let i = 0; i < 5; i++) await n.beat();
    n.rentals = [{ ...n.rentals[0]!, state: RentalState.RENTAL_STATE_EXITED, exitCode: 3, endedAt: new Date().toISOString() }];
    await n.beat();
    const ended = await sse.next("rental", (d) => d.rental.id === created.id && d.rental.status === "exited", from);
    expect(ended.rental).toMatchObject({ exitCode: 3, startedAt: started.startedAt });
    // Heartbeats are handled in order: the five unchanged ones came and went without a frame.
    expect(sse.all("rental", from).map((d) => d.rental.status)).toEqual(["exited"]);
    sse.close();
  });

  it("answers 504 node_timeout when the node is too slow and 409 node_offline when it is gone; a stop while it is gone is kept for its return", async () => {
    const creds = await enroll();
    const asked = inbox();
    const n = await node(creds, {
      startRental: async (cmd: StartRental) => ({ $case: "rental", value: running(cmd.rentalId) }),
      getRentalLogs: (cmd, signal) => (asked.take(cmd.rentalId), silent(cmd, signal)),
      stopRental: silent,
    });
    const created = await rent(creds.nodeId);
    await rentalWhere(created.id, (r) => r.status === "running");

    await expect(call("GET", `/v1/rentals/${created.id}/logs`)).rejects.toMatchObject({ status: 504, code: "node_timeout", message: expect.stringContaining("did not answer within 1 s") });
    await expect(call("POST", `/v1/rentals/${created.id}/stop`)).rejects.toMatchObject({ status: 504, code: "node_timeout" });
    expect((await call<RentalView>("GET", `/v1/rentals/${created.id}`)).status).toBe("running");

    // The node goes while a request waits on it, and stays gone.
    asked.seen.length = 0;
    const waiting = call("GET", `/v1/rentals/${created.id}/logs?tail=5`);
    await asked.received(created.id);
    await n.stop();
    await expect(waiting).rejects.toMatchObject({ status: 409, code: "node_offline", message: expect.stringContaining("disconnected before answering") });
    await expect(call("GET", `/v1/rentals/${created.id}/logs`)).rejects.toMatchObject({ status: 409, code: "node_offline" });
    const stopped = await call<RentalView>("POST", `/v1/rentals/${created.id}/stop`);
    expect(stopped).toMatchObject({ status: "stopped", reason: expect.stringContaining("told when it reconnects") });
  });

  it("settles on reconnect what changed while the node was away: a start it lost fails, stops it missed are sent (starting ones too)", async () => {
    const creds = await enroll();
    const starts = inbox();
    let first = true;
    const n = await node(creds, {
      // The first rental starts; the next two are still pulling when the node vanishes.
      startRental: async (cmd: StartRental, signal) => {
        starts.take(cmd.rentalId);
        if (first) return (first = false), { $case: "rental", value: running(cmd.rentalId) };
        return silent(cmd, signal);
      },
    });
    const ran = await rent(creds.nodeId);
    await rentalWhere(ran.id, (r) => r.status === "running");
    const [lost, pulling] = [await rent(creds.nodeId), await rent(creds.nodeId)];
    await Promise.all([starts.received(lost.id), starts.received(pulling.id)]);
    await n.stop();
    for (const r of [lost, pulling]) {
      expect((await rentalWhere(r.id, (x) => x.status === "node_offline")).reason).toContain("disconnected before it confirmed the start");
    }
    // The renter stops two of them while the node is away.
    for (const r of [ran, pulling]) expect((await call<RentalView>("POST", `/v1/rentals/${r.id}/stop`)).status).toBe("stopped");

    // It comes back having lost one start, still pulling another, and still running the first.
    const stops = inbox();
    await node(creds, { stopRental: async (cmd) => (stops.take(cmd.rentalId), { $case: "rental", value: RentalInfo.fromPartial({ rentalId: cmd.rentalId, state: RentalState.RENTAL_STATE_STOPPED }) }) }, [
      running(ran.id),
      RentalInfo.fromPartial({ rentalId: pulling.id, state: RentalState.RENTAL_STATE_STARTING }),
    ]);
    const failed = await rentalWhere(lost.id, (r) => r.status === "failed");
    expect(failed).toMatchObject({ reason: "the node restarted before the rental started", startedAt: null, exitCode: null });
    await Promise.all([stops.received(ran.id), stops.received(pulling.id)]);
    expect(stops.seen.sort()).toEqual([ran.id, pulling.id].sort());
    expect((await call<RentalView>("GET", `/v1/rentals/${pulling.id}`)).status).toBe("stopped");
  });

  it("refuses a node's reports about a rental on another node: a second provider cannot end, re-point or re-bill a victim's rental", async () => {
    const stopsAtVictim = inbox();
    const victimCreds = await enroll();
    await node(victimCreds, {
      startRental: async (cmd: StartRental) => ({ $case: "rental", value: running(cmd.rentalId) }),
      stopRental: async (cmd) => (stopsAtVictim.take(cmd.rentalId), { $case: "rental", value: RentalInfo.fromPartial({ rentalId: cmd.rentalId, state: RentalState.RENTAL_STATE_STOPPED }) }),
    });
    const victim = await rentalWhere((await rent(victimCreds.nodeId)).id, (r) => r.status === "running");

    // The attacker: another wallet, another machine, a real certificate and stream of its own.
    const attackerCreds = await enrollNode(t, { wallet: Wallet.createRandom(), machineId: "f".repeat(64) });
    const wallets = await Promise.all([victimCreds, attackerCreds].map(async (c) => (await t.hub.store.getNode(c.nodeId))?.wallet));
    expect(new Set(wallets).size).toBe(2);
    const attacker = await node(attackerCreds, { startRental: async (cmd: StartRental) => ({ $case: "rental", value: running(cmd.rentalId) }) });
    const own = await rentalWhere((await rent(attackerCreds.nodeId)).id, (r) => r.status === "running");

    const forged = (state: RentalState, more: Partial<RentalInfo> = {}) => RentalInfo.fromPartial({ rentalId: victim.id, state, ...more });
    const endedLongAgo = new Date(Date.now() - 3_600_000).toISOString();
    attacker.link.notify({ $case: "rentalEvent", value: { rental: forged(RentalState.RENTAL_STATE_STOPPED, { reason: "stopped", endedAt: endedLongAgo }) } });
    attacker.link.notify({
      $case: "rentalEvent",
      value: { rental: forged(RentalState.RENTAL_STATE_RUNNING, { ssh: { host: "203.0.113.66", port: 22, user: "root", command: "ssh root@203.0.113.66", hostKeyFingerprint: "SHA256:evil", hostPublicKey: "" } }) },
    });
    attacker.rentals = [forged(RentalState.RENTAL_STATE_EXITED, { exitCode: 1, startedAt: endedLongAgo, endedAt: endedLongAgo }), running(own.id)];
    await attacker.beat();
    // Its own rental's end comes after the forgeries on the same stream: once the hub has it, it has handled them all.
    attacker.link.notify({ $case: "rentalEvent", value: { rental: RentalInfo.fromPartial({ rentalId: own.id, state: RentalState.RENTAL_STATE_EXITED, exitCode: 7 }) } });
    expect(await rentalWhere(own.id, (r) => r.status === "exited")).toMatchObject({ exitCode: 7 });

    const after = await call<RentalView>("GET", `/v1/rentals/${victim.id}`);
    expect(after).toMatchObject({ status: "running", exitCode: null, endedAt: null, startedAt: victim.startedAt?.toISOString(), ssh: { host: "127.0.0.1", port: 2201 } });
    expect(stopsAtVictim.seen).toEqual([]);
    const refusal = await logs.waitFor((l) => l.msg.includes("rental on another node"), "the refusal in the hub's log");
    expect(refusal).toMatchObject({ nodeId: attackerCreds.nodeId, rentalId: victim.id, rentalNodeId: victimCreds.nodeId });
  });
});
