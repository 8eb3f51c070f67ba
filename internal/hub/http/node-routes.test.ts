import { once } from "node:events";
import type { IncomingHttpHeaders } from "node:http";
import https from "node:https";
import { createServer } from "node:net";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requestJson } from "../../httpclient/json-client.js";
import { GpuActivity, MinerState, RentalInfo, RentalState } from "../../proto/gen/gpunode/v1/gpunode.js";
import { captureLogs } from "../../../test/support/log-capture.js";
import { signIn } from "../../../test/support/renter.js";
import { enrollNode, nodeInfo, type ScriptedNode, startScriptedNode, startTestHub, type TestHub } from "../../../test/support/test-hub.js";

let t: TestHub;

/** A GET whose status, headers and body come back as they are. */
function rawGet(path: string, bearer: string): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(new URL(path, t.http.baseUrl), { ca: t.http.ca, headers: { authorization: `Bearer ${bearer}` } }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on("error", reject);
  });
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, "close");
  return port;
}

/**
 * What the node API tells whom: anyone browses the marketplace, only a node's own provider sees
 * its rentals, miners and API, and the hub dials a node's address only for that provider.
 */
describe("the node API's views, for anonymous callers, other wallets and the node's provider", () => {
  const provider = Wallet.createRandom();
  const stranger = Wallet.createRandom();
  const logs = captureLogs("info");
  let node: ScriptedNode;
  let nodeId: string;
  let apiPort: number;
  let asProvider: string;
  let asStranger: string;

  beforeAll(async () => {
    t = await startTestHub({ heartbeatIntervalMs: 60_000 }, logs.logger);
    apiPort = await closedPort();
    const info = nodeInfo({ apiPort });
    const creds = await enrollNode(t, { wallet: provider, info });
    nodeId = creds.nodeId;
    node = await startScriptedNode(t, creds, {}, [], info);
    node.rentals = [RentalInfo.fromPartial({ rentalId: "rental-secret", state: RentalState.RENTAL_STATE_RUNNING, image: "private/image:tag", containerId: "c0ffee", gpuIndices: [0], ssh: { host: "10.1.2.3", port: 2222, user: "root", command: "ssh -p 2222 root@10.1.2.3", hostKeyFingerprint: "SHA256:x" } })];
    node.more = {
      gpus: [
        { index: 0, uuid: "GPU-0", name: "NVIDIA H100", activity: GpuActivity.GPU_ACTIVITY_RENTED, rentalId: "rental-secret", healthy: true, error: "", utilizationGpuPercent: 97, utilizationMemoryPercent: 40, memoryTotalBytes: 80e9, memoryUsedBytes: 30e9, memoryFreeBytes: 50e9, temperatureCelsius: 61, powerDrawMilliwatts: 350_000, powerLimitMilliwatts: 700_000, pciBusId: "0000:01:00.0" },
        { index: 1, uuid: "GPU-1", name: "NVIDIA H100", activity: GpuActivity.GPU_ACTIVITY_MINING, rentalId: "", healthy: true, error: "", utilizationGpuPercent: 100, utilizationMemoryPercent: 10, memoryTotalBytes: 80e9, memoryUsedBytes: 2e9, memoryFreeBytes: 78e9, temperatureCelsius: 70, powerDrawMilliwatts: 300_000, powerLimitMilliwatts: 700_000, pciBusId: "0000:02:00.0" },
      ],
      miners: [{ gpuIndex: 1, state: MinerState.MINER_STATE_RUNNING, containerId: "miner-container-id", restarts: 0, lastError: "" }],
    };
    const recorded = once(t.hub.channel.events, "heartbeat");
    await node.beat();
    await recorded;
    [asProvider, asStranger] = await Promise.all([signIn(t.http, provider), signIn(t.http, stranger)]);
  });
  afterAll(async () => {
    await node?.stop();
    await t?.close();
  });

  const leaked = (body: unknown): string[] =>
    ["rental-secret", "private/image:tag", "c0ffee", "10.1.2.3", "miner-container-id", `:${apiPort}`, `"apiPort"`].filter((s) => JSON.stringify(body).includes(s));

  it("shows anyone, and any other wallet, the node's GPUs and what each does, and none of its rentals, containers or API", async () => {
    for (const bearer of [undefined, asStranger]) {
      const list = await requestJson<{ nodes: Record<string, unknown>[] }>(t.http, "GET", "/v1/nodes", { bearer });
      const one = await requestJson<Record<string, unknown>>(t.http, "GET", `/v1/nodes/${nodeId}`, { bearer });
      for (const view of [list.nodes.find((n) => n.id === nodeId), one]) {
        expect(view).toMatchObject({ id: nodeId, status: "online", lastHeartbeat: { body: { gpus: [{ index: 0, name: "NVIDIA H100", activity: "GPU_ACTIVITY_RENTED", utilizationGpuPercent: 97 }, { index: 1, activity: "GPU_ACTIVITY_MINING" }] } } });
        expect(leaked(view)).toEqual([]);
        expect(view).not.toHaveProperty("certificate");
      }
      expect(one).not.toHaveProperty("certificates");
    }
  });

  it("shows the node's provider everything: rentals, miners, API port and certificates", async () => {
    const mine = await requestJson<{ apiPort: number; certificates: unknown[]; lastHeartbeat: { body: { rentals: { rentalId: string }[]; miners: { containerId: string }[] } } }>(t.http, "GET", `/v1/nodes/${nodeId}`, { bearer: asProvider });
    expect(mine.apiPort).toBe(apiPort);
    expect(mine.certificates).toHaveLength(1);
    expect(mine.lastHeartbeat.body.rentals.map((r) => r.rentalId)).toEqual(["rental-secret"]);
    expect(mine.lastHeartbeat.body.miners.map((m) => m.containerId)).toEqual(["miner-container-id"]);
  });

  it("refuses a session token it does not know instead of quietly answering as anonymous", async () => {
    await expect(requestJson(t.http, "GET", "/v1/nodes", { bearer: "expired-or-forged" })).rejects.toMatchObject({ status: 401, code: "token_unknown" });
  });

  it("dials a node's API only for its provider, never echoes why the dial failed, and limits how often", async () => {
    const live = (bearer?: string) => requestJson(t.http, "GET", `/v1/nodes/${nodeId}/live`, { bearer });
    await expect(live()).rejects.toMatchObject({ status: 401, code: "token_missing" });
    await expect(live(asStranger)).rejects.toMatchObject({ status: 403, code: "not_node_owner" });

    const failure = await live(asProvider).then(
      () => undefined,
      (err: Error & { status: number; code: string }) => err,
    );
    expect(failure).toMatchObject({ status: 502, code: "node_unreachable" });
    expect(failure?.message).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|connect/);
    expect(failure?.message).not.toContain(String(apiPort));
    // The cause is the operator's to read.
    expect(await logs.waitFor((l) => l.msg.includes("did not answer the hub"), "the dial's failure in the log")).toMatchObject({ nodeId, apiPort });

    // Six at once, then one every five seconds; the first call above was one of the six.
    for (let i = 0; i < 5; i++) await expect(live(asProvider)).rejects.toMatchObject({ status: 502 });
    const limited = await rawGet(`/v1/nodes/${nodeId}/live`, asProvider);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(limited.body)).toMatchObject({ error: { code: "rate_limited", message: expect.stringMatching(/try again in \d+ s/) } });
  });

  it("answers a path it cannot decode with 400, and logs every request with its status and time", async () => {
    for (const path of ["/v1/nodes/%ff", "/v1/rentals/%c0%af"]) {
      const res = await rawGet(path, asProvider);
      expect(res.status, path).toBe(400);
      expect(JSON.parse(res.body)).toMatchObject({ error: { code: "bad_path" } });
    }
    const line = await logs.waitFor((l) => l.msg === "request" && l.path === "/v1/nodes/%ff", "the request's log line");
    expect(line).toMatchObject({ level: 30, method: "GET", status: 400, ms: expect.any(Number) });
  });
});
