import { randomBytes } from "node:crypto";
import { RentalViews } from "./rental-views.js";
import { randomUUID } from "node:crypto";
import { EventEmitter, once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { SessionTokens } from "../../auth/session-tokens.js";
import { GpuActivity, Heartbeat } from "../../proto/gen/gpunode/v1/gpunode.js";
import { openSse, signIn } from "../../../test/support/renter.js";
import { enrollNode, nodeInfo, quietLogger, startTestHub, type TestHub } from "../../../test/support/test-hub.js";
import { HeartbeatBuffer } from "../heartbeat-buffer.js";
import { Presence } from "../presence.js";
import type { HubRental } from "../store/rental-store.js";
import { addEventRoutes, defaultEventStreamOptions, type EventFeed, type EventRouteDeps } from "./events-routes.js";
import { Router } from "./router.js";

function heartbeat(nodeId: string, seq: number, util: number): Heartbeat {
  const gpu = {
    index: 0, uuid: "GPU-0", name: "NVIDIA H100 80GB HBM3", activity: GpuActivity.GPU_ACTIVITY_MINING, rentalId: "", healthy: true, error: "",
    utilizationGpuPercent: util, utilizationMemoryPercent: 1, memoryTotalBytes: 80 * 1024 ** 3, memoryUsedBytes: 1024 ** 3, memoryFreeBytes: 79 * 1024 ** 3,
    temperatureCelsius: 50, powerDrawMilliwatts: 250_500, powerLimitMilliwatts: 700_000, pciBusId: "00000000:17:00.0",
  };
  return Heartbeat.fromPartial({ seq, nodeId, uptimeSeconds: 1, gpus: [gpu], sentAtUnixMs: Date.now() });
}

function rental(renter: string, nodeId: string): HubRental {
  return {
    id: randomUUID(), renter, nodeId, status: "starting",
    request: { image: "busybox", gpuCount: 1, gpuIds: [], gpuModel: "", cpuMillis: 0, memoryBytes: 0, sshPublicKeys: [], command: ["true"], maxDurationSeconds: 0 },
    gpuIndices: [], ssh: null, pricePerSecWei: "1000", reason: "", exitCode: null, createdAt: new Date(), startedAt: null, endedAt: null, expiresAt: null, offlineSince: null, paidSeconds: null,
  };
}

/**
 * GET /v1/events on its own server, wired to a real hub's store and rental book but with its own
 * presence, heartbeat buffer and node events, so the test decides when nodes report.
 */
describe("GET /v1/events", () => {
  const provider = Wallet.createRandom();
  const renter = Wallet.createRandom();
  const stranger = Wallet.createRandom();
  let t: TestHub;
  let server: http.Server;
  let url: string;
  let feed: EventFeed;
  let deps: EventRouteDeps;
  let nodeA: string;
  let nodeB: string;
  const opts = { ...defaultEventStreamOptions, coalesceMs: 300, keepAliveMs: 100 };
  /** The nodes that say they are draining, as the hub's channel keeps them. */
  const draining = new Set<string>();

  beforeAll(async () => {
    t = await startTestHub();
    nodeA = (await enrollNode(t, { wallet: provider, machineId: "a".repeat(64), info: nodeInfo({ host: "10.0.0.1" }) })).nodeId;
    nodeB = (await enrollNode(t, { wallet: Wallet.createRandom(), machineId: "b".repeat(64), info: nodeInfo({ host: "10.0.0.2" }) })).nodeId;
    deps = {
      tokens: new SessionTokens({ ttlMs: 60_000, key: randomBytes(32) }),
      store: t.hub.store,
      presence: new Presence({ intervalMs: 60_000, offlineAfterMissed: 3 }),
      heartbeats: new HeartbeatBuffer({ flushIntervalMs: 60_000 }, { store: t.hub.store, logger: quietLogger }),
      nodeEvents: new EventEmitter() as EventRouteDeps["nodeEvents"],
      isDraining: (id) => draining.has(id),
      book: t.hub.rentals,
      views: new RentalViews({ book: t.hub.rentals }),
      logger: quietLogger,
    };
    const router = new Router(quietLogger);
    feed = addEventRoutes(router, deps, opts);
    server = http.createServer(router.handle);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/events`;
  });

  afterAll(async () => {
    server?.closeAllConnections();
    server?.close();
    deps?.presence.close();
    await t?.close();
  });

  /** What a node's report does inside the hub: buffer, presence, then the event. */
  const report = (nodeId: string, seq: number, util: number): void => {
    const hb = heartbeat(nodeId, seq, util);
    deps.heartbeats.record(hb);
    deps.presence.heartbeat(nodeId);
    deps.nodeEvents.emit("heartbeat", nodeId, hb);
  };

  it("sends anyone a snapshot of the nodes, then coalesced node updates: one per node per interval", async () => {
    const sse = await openSse(url);
    const snapshot = await sse.next("snapshot");
    expect(snapshot).toMatchObject({ wallet: null, rentals: [] });
    expect(snapshot.nodes.map((n) => n.id).sort()).toEqual([nodeA, nodeB].sort());
    expect(snapshot.nodes.find((n) => n.id === nodeA)).toMatchObject({ wallet: provider.address, host: "10.0.0.1", status: "offline", lastHeartbeatAt: null });

    const first = sse.events.length;
    for (let seq = 1; seq <= 200; seq++) {
      report(nodeA, seq, seq % 100);
      report(nodeB, seq, 5);
    }
    const update = await sse.next("nodes", () => true, first);
    expect(update.nodes.map((n) => n.id).sort()).toEqual([nodeA, nodeB].sort());
    const a = update.nodes.find((n) => n.id === nodeA);
    expect(a).toMatchObject({ status: "online", gpus: [{ index: 0, model: "NVIDIA H100 80GB HBM3", state: "mining", utilizationPercent: 0, memoryUsedBytes: 1024 ** 3, temperatureCelsius: 50, powerWatts: 250.5 }] });

    // Reports keep coming every 10 ms for a second: at most one update per interval goes out.
    const started = Date.now();
    const before = sse.all("nodes").length;
    for (let seq = 201; Date.now() - started < 1_000; seq++) {
      report(nodeA, seq, 42);
      await new Promise((r) => setTimeout(r, 10));
    }
    const elapsed = Date.now() - started;
    await sse.next("nodes", (d) => d.nodes[0]?.gpus[0]?.utilizationPercent === 42);
    const sent = sse.all("nodes").length - before;
    expect(sent).toBeGreaterThanOrEqual(2);
    expect(sent).toBeLessThanOrEqual(Math.ceil(elapsed / opts.coalesceMs) + 1);
    sse.close();
  });

  it("shows a draining node as draining within an interval of the node saying so, and online again when it undrains", async () => {
    report(nodeA, 1_000, 3);
    const sse = await openSse(url);
    expect((await sse.next("snapshot")).nodes.find((n) => n.id === nodeA)?.status).toBe("online");
    const drain = (on: boolean): void => {
      if (on) draining.add(nodeA);
      else draining.delete(nodeA);
      deps.nodeEvents.emit("draining", nodeA, on);
    };
    let from = sse.events.length;
    drain(true);
    await sse.next("nodes", (d) => d.nodes.some((n) => n.id === nodeA && n.status === "draining"), from);
    from = sse.events.length;
    drain(false);
    await sse.next("nodes", (d) => d.nodes.some((n) => n.id === nodeA && n.status === "online"), from);
    sse.close();
  });

  it("shows a rental only to its renter (role renter) and to the wallet whose node runs it (role provider)", async () => {
    const token = (w: { address: string }): string => deps.tokens.issue(w.address).token;
    const tokens = { renter: token(renter), provider: token(provider), stranger: token(stranger) };
    const earlier = rental(renter.address, nodeA);
    await t.hub.store.rentals.create(earlier);

    const [asRenter, asProvider, asStranger] = await Promise.all([openSse(url, { token: tokens.renter }), openSse(url, { token: tokens.provider }), openSse(url, { token: tokens.stranger })]);
    expect(await asRenter.next("snapshot")).toMatchObject({ wallet: renter.address, rentals: [{ role: "renter", rental: { id: earlier.id } }] });
    expect(await asProvider.next("snapshot")).toMatchObject({ wallet: provider.address, rentals: [{ role: "provider", rental: { id: earlier.id } }] });
    expect(await asStranger.next("snapshot")).toMatchObject({ wallet: stranger.address, rentals: [] });

    const changed = { ...earlier, status: "running" as const, startedAt: new Date() };
    t.hub.rentals.emit("changed", changed);
    expect(await asRenter.next("rental")).toMatchObject({ role: "renter", rental: { id: earlier.id, status: "running", costWei: expect.stringMatching(/^\d+$/) } });
    expect(await asProvider.next("rental")).toMatchObject({ role: "provider", rental: { id: earlier.id, status: "running" } });
    // The stranger's first rental event is its own, sent after the others'.
    const own = rental(stranger.address, nodeB);
    t.hub.rentals.emit("changed", own);
    expect((await asStranger.next("rental")).rental.id).toBe(own.id);

    // A revoked session stops seeing rentals at once, and is told.
    deps.tokens.revoke(tokens.renter);
    t.hub.rentals.emit("changed", { ...changed, status: "stopped" });
    expect(await asRenter.next("session")).toMatchObject({ wallet: null });
    await asProvider.next("rental", (d) => d.rental.status === "stopped");
    expect(asRenter.all("rental").filter((d) => d.rental.status === "stopped")).toEqual([]);
    for (const s of [asRenter, asProvider, asStranger]) s.close();
  });

  it("sends a keep-alive comment, and leaves no listener or timer behind when the clients go", async () => {
    await vi.waitFor(() => expect(feed.clientCount).toBe(0));
    const listeners = () => ({
      changed: t.hub.rentals.listenerCount("changed"),
      presence: deps.presence.listenerCount("change"),
      heartbeat: deps.nodeEvents.listenerCount("heartbeat"),
      draining: deps.nodeEvents.listenerCount("draining"),
    });
    const baseline = listeners();
    const clients = await Promise.all([openSse(url), openSse(url)]);
    expect(t.hub.rentals.listenerCount("changed")).toBe(baseline.changed + 1);
    expect(deps.nodeEvents.listenerCount("heartbeat")).toBe(1);
    await clients[0]?.until(() => (clients[0]?.comments ?? 0) >= 2);
    for (const c of clients) c.close();
    await vi.waitFor(() => expect(feed.clientCount).toBe(0));
    expect(listeners()).toEqual(baseline);
    expect(baseline).toMatchObject({ presence: 0, heartbeat: 0, draining: 0 });
  });

  it("is served by the hub, authenticated by the session cookie", async () => {
    const token = await signIn(t.http, renter);
    const sse = await openSse(`${t.http.baseUrl}/v1/events`, { token, ca: t.http.ca });
    const snapshot = await sse.next("snapshot");
    expect(snapshot.wallet).toBe(renter.address);
    expect(snapshot.nodes).toHaveLength(2);
    sse.close();
  });
});
