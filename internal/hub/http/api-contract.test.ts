// The hub's REST contract, checked from the outside: every operation in the committed OpenAPI
// document is sent to a real hub (HTTPS, gRPC over mTLS to a scripted node, a node API served over
// mTLS) with valid inputs, and every answer is checked against what the document lists for it: the
// status is one it names, and the body parses through the zod schema the route declared (looked up
// by operationId in the same table the document is generated from) with nothing left over.
import { createHash } from "node:crypto";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import type { IncomingHttpHeaders } from "node:http";
import https from "node:https";
import { join } from "node:path";
import { Wallet } from "ethers";
import ssh2 from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSignIn } from "../../auth/siwe-signer.js";
import { startAnvil, type RunningAnvil } from "../../chain/anvil.js";
import { localChainOptions } from "../../../test/support/chain-options.js";
import { deployEscrow } from "../../chain/deploy-escrow.js";
import { createCsr } from "../../certs/csr.js";
import { generateP256Key } from "../../certs/keys.js";
import { apiErrorSchema } from "../../hubapi/common.js";
import { isJsonReply, type Operation } from "../../hubapi/operation.js";
import { hubOperations } from "../../hubapi/operations.js";
import { NodeApiServer } from "../../nodeapi/node-api-server.js";
import { GetStatusResponse, GpuActivity, MinerState, NodeInfo, RentalInfo, RentalState, type StartRental } from "../../proto/gen/gpunode/v1/gpunode.js";
import { holdPortRun } from "../../../test/support/port-run.js";
import { packageArchive } from "../../../test/support/releases.js";
import { generateReleaseKeys, readReleasePrivateKey } from "../../release/keys.js";
import { publishRelease, releasesDir } from "../releases/release-store.js";
import { signIn } from "../../../test/support/renter.js";
import { enrollNode, nodeInfo, rentalWhere, type ScriptedNode, startScriptedNode, startTestHub, type TestHub } from "../../../test/support/test-hub.js";
import { openApiDocumentPath } from "./openapi-routes.js";

interface DocOperation {
  operationId: string;
  responses: Record<string, unknown>;
}
interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  body: unknown;
}
interface Request {
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
  bearer?: string;
  headers?: Record<string, string>;
}

const doc = JSON.parse(readFileSync(openApiDocumentPath(), "utf8")) as { paths: Record<string, Record<string, DocOperation>> };
const METHODS = ["get", "put", "post", "patch", "delete"];
const documented: Array<{ method: string; path: string; op: DocOperation }> = Object.entries(doc.paths).flatMap(([path, item]) =>
  Object.entries(item)
    .filter(([method]) => METHODS.includes(method))
    .map(([method, op]) => ({ method, path, op })),
);
const byId = new Map(hubOperations.map((op) => [op.operationId, op]));

/** Sends documented requests and checks each answer against the document and the route's schemas; remembers which operations answered their success status. */
class ContractClient {
  readonly succeeded = new Set<string>();

  constructor(private readonly t: () => TestHub) {}

  async send(op: Operation, req: Request = {}): Promise<Answer> {
    const answer = await this.raw(op, req);
    this.check(op, answer);
    if (answer.status === op.reply.status) this.succeeded.add(op.operationId);
    return answer;
  }

  /** The success answer's body, typed by the caller; fails when the status is another. */
  async ok<T>(op: Operation, req: Request = {}): Promise<T> {
    const answer = await this.send(op, req);
    expect(answer.status, `${op.operationId}: ${answer.text.slice(0, 300)}`).toBe(op.reply.status);
    return answer.body as T;
  }

  /** An error answer: its status must be documented for the operation, and its body the Error schema. */
  async refused(op: Operation, req: Request, status: number, code?: string): Promise<void> {
    const answer = await this.send(op, req);
    expect(answer.status, `${op.operationId}: ${answer.text.slice(0, 300)}`).toBe(status);
    if (code) expect(answer.body).toMatchObject({ error: { code } });
  }

  private check(op: Operation, a: Answer): void {
    const entry = documented.find((d) => d.op.operationId === op.operationId);
    expect(entry, `${op.operationId} is in the document`).toBeDefined();
    expect(Object.keys(entry?.op.responses ?? {}), `${op.operationId} answered ${a.status}, which the document does not list: ${a.text.slice(0, 200)}`).toContain(String(a.status));
    const type = String(a.headers["content-type"] ?? "").split(";")[0];
    const reply = op.reply;
    if (a.status === reply.status) {
      if (isJsonReply(reply)) {
        expect(type, op.operationId).toBe("application/json");
        // Parsing strips what the schema does not name: equal means nothing undeclared was sent.
        expect(reply.schema.parse(a.body), `${op.operationId}: the body has fields its schema does not declare`).toEqual(a.body);
      } else if (Object.keys(reply.content).length > 0) {
        expect(Object.keys(reply.content), op.operationId).toContain(type);
        if (!reply.events) expect(a.text.length, op.operationId).toBeGreaterThan(0);
      } else {
        expect(a.text, op.operationId).toBe("");
      }
    } else if (op.bodiless?.[a.status]) {
      expect(a.text, op.operationId).toBe("");
    } else {
      expect(type, op.operationId).toBe("application/json");
      expect(apiErrorSchema.parse(a.body)).toEqual(a.body);
    }
  }

  private raw(op: Operation, req: Request): Promise<Answer> {
    const path = op.path.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(req.params?.[name] ?? ""));
    const url = new URL(path, this.t().http.baseUrl);
    for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v);
    const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
    const headers: Record<string, string> = { ...req.headers };
    if (payload) headers["content-type"] = "application/json";
    if (req.bearer) headers.authorization = `Bearer ${req.bearer}`;
    const stream = !isJsonReply(op.reply) && op.reply.events !== undefined;
    return new Promise((resolve, reject) => {
      const r = https.request(url, { method: op.method, headers, ca: this.t().http.ca }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
          // An event stream never ends: its first event is the answer.
          if (stream && /^event: .*\ndata: .*\n\n/m.test(text)) {
            res.destroy();
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: undefined });
          }
        });
        res.on("end", () => {
          const json = String(res.headers["content-type"] ?? "").startsWith("application/json");
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: json && text ? JSON.parse(text) : undefined });
        });
        res.on("error", reject);
      });
      r.on("error", reject);
      r.end(payload);
    });
  }
}

/** The first event of an event-stream answer, parsed through the schema the operation declares for it. */
function firstEvent(op: Operation, a: Answer): { event: string; data: unknown } {
  const m = /event: (\w+)\ndata: (.*)\n\n/.exec(a.text);
  expect(m, a.text.slice(0, 200)).not.toBeNull();
  const [, event = "", raw = ""] = m ?? [];
  const schema = !isJsonReply(op.reply) ? op.reply.events?.[event] : undefined;
  expect(schema, `${op.operationId} declares its ${event} event`).toBeDefined();
  const data: unknown = JSON.parse(raw);
  expect(schema?.parse(data)).toEqual(data);
  return { event, data };
}

function sshKey(): { publicKey: string; fingerprint: string } {
  // ssh2 makes an unreadable ed25519 key about 1 time in 250 (internal/ssh/host-key.ts): take a readable one.
  let publicKey: string;
  do publicKey = ssh2.utils.generateKeyPairSync("ed25519").public.trim();
  while (ssh2.utils.parseKey(publicKey) instanceof Error);
  const blob = publicKey.split(" ")[1] ?? "";
  return { publicKey, fingerprint: `SHA256:${createHash("sha256").update(Buffer.from(blob, "base64")).digest("base64").replace(/=+$/, "")}` };
}

const op = (id: string): Operation => {
  const found = byId.get(id);
  if (!found) throw new Error(`no operation ${id} in hubOperations`);
  return found;
};

// One client for both hubs below: the last test counts what both had answered.
let current: TestHub;
const client = new ContractClient(() => current);

describe("every documented operation, sent to a real hub", () => {
  const provider = Wallet.createRandom();
  const renter = Wallet.createRandom();
  let t: TestHub;
  let node: ScriptedNode;
  let nodeApi: NodeApiServer;
  let nodeId: string;
  let asProvider: string;
  let asRenter: string;
  let releaseStart: () => void = () => undefined;
  const hostKey = sshKey();
  const renterKey = sshKey();
  // What the node's heartbeats carry that no one but its provider may see.
  const SECRETS = ["rental-secret", "private/image:tag", "c0ffee", "10.1.2.3", "miner-container-id"];

  beforeAll(async () => {
    t = current = await startTestHub({ heartbeatIntervalMs: 60_000 });
    // Held until the node API binds it, so nothing else takes it meanwhile.
    const held = await holdPortRun("127.0.0.1", 1);
    const apiPort = held.first;
    const info = nodeInfo({ apiPort, gpus: [{ index: 0, uuid: "GPU-0", name: "NVIDIA H100", pciBusId: "0000:01:00.0", memoryTotalBytes: 80e9 }] });
    const creds = await enrollNode(t, { wallet: provider, info });
    nodeId = creds.nodeId;
    const started = new Promise<void>((resolve) => (releaseStart = resolve));
    const running = (rentalId: string) =>
      RentalInfo.fromPartial({
        rentalId,
        state: RentalState.RENTAL_STATE_RUNNING,
        startedAt: new Date().toISOString(),
        ssh: { host: "127.0.0.1", port: 2201, user: "renter", command: "ssh -p 2201 renter@127.0.0.1", hostKeyFingerprint: hostKey.fingerprint, hostPublicKey: hostKey.publicKey },
      });
    node = await startScriptedNode(
      t,
      creds,
      {
        startRental: async (cmd: StartRental) => (await started, { $case: "rental", value: running(cmd.rentalId) }),
        stopRental: async (cmd) => ({ $case: "rental", value: RentalInfo.fromPartial({ rentalId: cmd.rentalId, state: RentalState.RENTAL_STATE_STOPPED, endedAt: new Date().toISOString() }) }),
        getRentalLogs: async (cmd) => ({ $case: "rentalLogs", value: { rentalId: cmd.rentalId, text: "hello from the rental\n" } }),
      },
      [],
      info,
    );
    node.rentals = [RentalInfo.fromPartial({ rentalId: "rental-secret", state: RentalState.RENTAL_STATE_RUNNING, image: "private/image:tag", containerId: "c0ffee", gpuIndices: [0], ssh: { host: "10.1.2.3", port: 2222, user: "root", command: "ssh -p 2222 root@10.1.2.3", hostKeyFingerprint: "SHA256:x" } })];
    node.more = {
      gpus: [{ index: 0, uuid: "GPU-0", name: "NVIDIA H100", activity: GpuActivity.GPU_ACTIVITY_RENTED, rentalId: "rental-secret", healthy: true, error: "", utilizationGpuPercent: 97, utilizationMemoryPercent: 40, memoryTotalBytes: 80e9, memoryUsedBytes: 30e9, memoryFreeBytes: 50e9, temperatureCelsius: 61, powerDrawMilliwatts: 350_000, powerLimitMilliwatts: 700_000, pciBusId: "0000:01:00.0" }],
      miners: [{ gpuIndex: 0, state: MinerState.MINER_STATE_PAUSED, containerId: "miner-container-id", restarts: 0, lastError: "" }],
    };
    const recorded = once(t.hub.channel.events, "heartbeat");
    await node.beat();
    await recorded;
    // The node's own API, over mTLS, answering the hub as a daemon does.
    nodeApi = new NodeApiServer({ host: "127.0.0.1", port: apiPort }, { status: async () => GetStatusResponse.fromPartial({ nodeId, hubConnected: true, uptimeSeconds: 12, certificateNotAfter: new Date().toISOString(), info, gpus: node.more.gpus, heartbeatsSent: 3, rentals: node.rentals, miners: node.more.miners, hubAddress: t.grpcTarget, lastHeartbeatAt: new Date().toISOString() }) });
    await held.release(apiPort);
    await nodeApi.start(creds);
    [asProvider, asRenter] = await Promise.all([signIn(t.http, provider), signIn(t.http, renter)]);
    // A signed release, published as `rental-hub release add --recommend` does.
    const keys = await generateReleaseKeys(join(t.dataDir, "release-key"));
    await publishRelease(releasesDir(t.dataDir), await packageArchive(t.dataDir, "0.2.0"), await readReleasePrivateKey(keys.privateKeyFile), { recommend: true });
  });
  afterAll(async () => {
    releaseStart();
    await nodeApi?.stop();
    await node?.stop();
    await t?.close();
  });

  it("the hub itself: health, its CA (JSON and PEM), this document, the dashboard's page and files", async () => {
    expect(await client.ok(op("health"))).toMatchObject({ ok: true });
    const ca = await client.ok<{ caCertPem: string }>(op("getCa"));
    expect((await client.send(op("getCaPem"))).text).toBe(ca.caCertPem);
    expect(await client.ok(op("openApi"))).toEqual(doc);
    const page = await client.send(op("dashboard"));
    expect(page.status).toBe(200);
    await client.send(op("dashboard"), { headers: { "if-none-match": String(page.headers.etag) } }).then((a) => expect(a.status).toBe(304));
    expect((await client.send(op("dashboardFile"), { params: { file: "app.js" } })).status).toBe(200);
    expect((await client.send(op("dashboardFile"), { params: { file: "app.css" } })).status).toBe(200);
    await client.refused(op("dashboardFile"), { params: { file: "nope.js" } }, 404, "not_found");
  });

  it("releases: lists them with the recommended version, one's signed manifest and its archive, to anyone", async () => {
    const list = await client.ok<{ recommended: string | null; releases: Array<{ manifest: { version: string; sha256: string; size: number } }> }>(op("listReleases"));
    expect(list.recommended).toBe("0.2.0");
    expect(list.releases.map((r) => r.manifest.version)).toEqual(["0.2.0"]);
    expect(await client.ok(op("getRelease"), { params: { version: "0.2.0" } })).toEqual(list.releases[0]);
    const archive = await client.send(op("getReleaseArchive"), { params: { version: "0.2.0" } });
    expect(archive.status).toBe(200);
    expect(archive.headers["content-length"]).toBe(String(list.releases[0]?.manifest.size));
    expect(archive.headers["x-release-sha256"]).toBe(list.releases[0]?.manifest.sha256);
    await client.refused(op("getRelease"), { params: { version: "9.9.9" } }, 404, "unknown_release");
    await client.refused(op("getReleaseArchive"), { params: { version: "../../ca" } }, 404, "unknown_release");
  });

  it("signs in (nonce, or a message built for a browser wallet), and out", async () => {
    const wallet = Wallet.createRandom();
    const { nonce, domain, uri, chainId } = await client.ok<{ nonce: string; domain: string; uri: string; chainId: number }>(op("getNonce"));
    const signed = await createSignIn({ signer: wallet, domain, uri, chainId, nonce, statement: "Sign in to rent GPUs." });
    const { token } = await client.ok<{ token: string }>(op("signIn"), { body: signed });
    const { message } = await client.ok<{ message: string }>(op("getSignInMessage"), { query: { address: wallet.address } });
    const { token: browserToken } = await client.ok<{ token: string }>(op("signIn"), { body: { message, signature: await wallet.signMessage(message) } });
    await client.refused(op("getSignInMessage"), { query: { address: "0x123" } }, 400, "invalid_address");
    await client.refused(op("signIn"), { body: { message, signature: "0x00" } }, 401);
    await client.ok(op("signOut"), { bearer: token });
    await client.ok(op("signOut"), { bearer: browserToken });
    await client.refused(op("getEarnings"), { bearer: token }, 401);
  });

  it("nodes: registers a machine, lists and shows nodes to anyone and to their provider, asks a node itself, and its GPUs' history", async () => {
    const csrPem = await createCsr(await generateP256Key(), "gpu-node");
    const body = { csrPem, info: NodeInfo.toJSON(nodeInfo()), machineId: "b".repeat(64) };
    expect(await client.ok(op("registerNode"), { bearer: asProvider, body })).toMatchObject({ created: true });
    // Registered again: the proto's JSON leaves `created: false` out.
    expect(await client.ok(op("registerNode"), { bearer: asProvider, body })).not.toHaveProperty("created");

    for (const bearer of [undefined, asRenter]) {
      const { nodes } = await client.ok<{ nodes: Array<{ id: string }> }>(op("listNodes"), { bearer });
      const listed = nodes.find((n) => n.id === nodeId);
      const one = await client.ok(op("getNode"), { bearer, params: { id: nodeId } });
      for (const view of [listed, one]) {
        expect(view).toMatchObject({ id: nodeId, lastHeartbeat: { body: { gpus: [{ activity: "GPU_ACTIVITY_RENTED" }] } } });
        expect(SECRETS.filter((s) => JSON.stringify(view).includes(s))).toEqual([]);
        expect(JSON.stringify(view)).not.toMatch(/"(rentals|rentalId|containerId|ssh|miners|apiPort|certificates?)"/);
      }
    }
    const mine = await client.ok<{ certificates: unknown[]; lastHeartbeat: { body: { rentals: Array<{ containerId: string }> } } }>(op("getNode"), { bearer: asProvider, params: { id: nodeId } });
    expect(mine.certificates).toHaveLength(1);
    expect(mine.lastHeartbeat.body.rentals.map((r) => r.containerId)).toEqual(["c0ffee"]);
    const { nodes } = await client.ok<{ nodes: Array<{ id: string; apiPort?: number }> }>(op("listNodes"), { bearer: asProvider });
    expect(nodes.find((n) => n.id === nodeId)?.apiPort).toBeGreaterThan(0);

    expect(await client.ok(op("getNodeLive"), { bearer: asProvider, params: { id: nodeId } })).toMatchObject({ nodeId, hubConnected: true, heartbeatsSent: 3, rentals: [{ containerId: "c0ffee" }] });
    await client.refused(op("getNodeLive"), { bearer: asRenter, params: { id: nodeId } }, 403, "not_node_owner");
    await client.refused(op("getNode"), { params: { id: "no-such-node" } }, 404, "unknown_node");

    // The charts' history, to anyone: the GPU's samples from the heartbeat above, and nothing of its rental.
    const history = await client.ok<{ gpus: Array<{ uuid: string; samples: { t: number[]; utilizationGpuPercent: number[] } }> }>(op("getNodeGpuHistory"), { params: { id: nodeId } });
    expect(history.gpus).toMatchObject([{ uuid: "GPU-0", samples: { utilizationGpuPercent: [97] } }]);
    expect(SECRETS.filter((secret) => JSON.stringify(history).includes(secret))).toEqual([]);
    await client.refused(op("getNodeGpuHistory"), { params: { id: "no-such-node" } }, 404, "unknown_node");
  });

  it("rentals: rents, follows the start, lists, reads logs, stops and removes, as renter and as provider", async () => {
    const created = await client.ok<{ id: string; status: string }>(op("createRental"), {
      bearer: asRenter,
      body: { nodeId, gpuCount: 0, image: "busybox", sshPublicKey: renterKey.publicKey, env: [{ name: "N", value: "3" }], maxDurationSeconds: 600 },
    });
    expect(created.status).toBe("starting");
    const id = created.id;
    node.link.notify({ $case: "pullProgress", value: { rentalId: id, image: "busybox", status: "Downloading", currentBytes: 10, totalBytes: 100, layersDone: 0, layersTotal: 2 } });
    await expect.poll(async () => (await client.ok<{ pull: unknown }>(op("getRental"), { bearer: asRenter, params: { id } })).pull).toMatchObject({ currentBytes: 10, layersTotal: 2 });
    releaseStart();
    await rentalWhere(t, id, (r) => r.status === "running");
    expect(await client.ok(op("getRental"), { bearer: asRenter, params: { id } })).toMatchObject({ status: "running", sshKnownHosts: `[127.0.0.1]:2201 ${hostKey.publicKey}`, sshCommand: expect.stringContaining("StrictHostKeyChecking=yes") });
    expect(await client.ok(op("getRental"), { bearer: asProvider, params: { id } })).toMatchObject({ id });

    expect((await client.ok<{ rentals: Array<{ id: string }> }>(op("listRentals"), { bearer: asRenter })).rentals.map((r) => r.id)).toContain(id);
    expect((await client.ok<{ rentals: Array<{ id: string }> }>(op("listRentals"), { bearer: asProvider, query: { role: "provider" } })).rentals.map((r) => r.id)).toContain(id);
    await client.refused(op("listRentals"), { bearer: asRenter, query: { role: "landlord" } }, 400, "invalid_request");

    expect(await client.ok(op("getRentalLogs"), { bearer: asRenter, params: { id }, query: { tail: "20" } })).toEqual({ rentalId: id, text: "hello from the rental\n" });
    await client.refused(op("getRentalLogs"), { bearer: asRenter, params: { id }, query: { tail: "0" } }, 400, "invalid_request");
    await client.refused(op("deleteRental"), { bearer: asRenter, params: { id } }, 409, "rental_active");
    await client.refused(op("stopRental"), { bearer: asProvider, params: { id } }, 403, "not_your_rental");
    expect(await client.ok(op("stopRental"), { bearer: asRenter, params: { id } })).toMatchObject({ status: "stopped" });
    expect(await client.ok(op("deleteRental"), { bearer: asRenter, params: { id } })).toMatchObject({ id, status: "stopped" });
  });

  it("payments: a hub without a chain says so, and a provider's earnings are empty", async () => {
    expect(await client.ok(op("getChain"))).toEqual({ payments: false });
    expect(await client.ok(op("getEarnings"), { bearer: asProvider })).toEqual({ wallet: provider.address, payments: false, withdrawableWei: null, nodes: [] });
  });

  it("the live feed: a snapshot of the nodes for anyone, and the wallet's rentals with a session", async () => {
    const anonymous = await client.send(op("events"));
    expect(anonymous.status).toBe(200);
    const first = firstEvent(op("events"), anonymous);
    expect(first).toMatchObject({ event: "snapshot", data: { wallet: null, rentals: [] } });
    expect(SECRETS.filter((s) => JSON.stringify(first.data).includes(s))).toEqual([]);
    const signedIn = firstEvent(op("events"), await client.send(op("events"), { bearer: asRenter }));
    expect((signedIn.data as { rentals: unknown[] }).rentals.length).toBeGreaterThan(0);
  });

  it("refuses every operation that needs a session without one (401), and an unknown rental with 404, as the document says", async () => {
    const needs = hubOperations.filter((o) => o.security === "session");
    expect(needs.length).toBeGreaterThan(5);
    for (const o of needs) await client.refused(o, { params: { id: nodeId } }, 401, "token_missing");
    for (const id of ["getRental", "stopRental", "deleteRental", "getRentalLogs"]) await client.refused(op(id), { bearer: asRenter, params: { id: "00000000-0000-4000-8000-000000000000" } }, 404, "unknown_rental");
  });

});

describe("the payment parts of the answers, from a hub on a real chain", () => {
  const provider = Wallet.createRandom();
  const renter = Wallet.createRandom();
  let anvil: RunningAnvil;
  let t: TestHub;
  let node: ScriptedNode;
  let nodeId: string;

  beforeAll(async () => {
    anvil = await startAnvil({ blockTimeSeconds: 0.1 });
    const escrow = await deployEscrow({ rpcUrl: anvil.rpcUrl, deployerKey: anvil.devKey(0), reclaimDelaySeconds: 3_600 });
    t = current = await startTestHub({
      heartbeatIntervalMs: 60_000,
      chain: localChainOptions(anvil, escrow, { confirmations: 2, pollMs: 50 }),
    });
    const info = nodeInfo({ pricePerSecWei: "1234567890123" });
    const creds = await enrollNode(t, { wallet: provider, info });
    nodeId = creds.nodeId;
    node = await startScriptedNode(t, creds, {}, [], info);
  });
  afterAll(async () => {
    await node?.stop();
    await t?.close();
    await anvil?.stop();
  });

  it("names the chain and the escrow, gives an awaiting rental the call that pays it, and a provider's earnings", async () => {
    await expect.poll(async () => (await client.ok<{ sync?: { state: string } }>(op("getChain"))).sync?.state).toBe("connected");
    const asRenter = await signIn(t.http, renter);
    const made = await client.ok<{ id: string; payment: { pay: { value: string } } }>(op("createRental"), { bearer: asRenter, body: { nodeId, gpuCount: 0, image: "busybox", command: ["true"], maxDurationSeconds: 600 } });
    expect(made).toMatchObject({ status: "awaiting_payment", payment: { status: "awaiting", pay: { value: (1234567890123n * 600n).toString(), approve: null } } });
    expect(await client.ok(op("getRental"), { bearer: asRenter, params: { id: made.id } })).toMatchObject({ payment: { rentalKey: expect.stringMatching(/^0x/) } });
    expect(await client.ok(op("getEarnings"), { bearer: await signIn(t.http, provider) })).toMatchObject({ payments: true, withdrawableWei: "0", nodes: [{ nodeId, settledWei: "0" }] });
    expect(await client.ok(op("stopRental"), { bearer: asRenter, params: { id: made.id } })).toMatchObject({ status: "stopped" });
  });
});

describe("the walk", () => {
  it("sent every operation in the document and had its success answer", () => {
    const missing = documented.filter((d) => !client.succeeded.has(d.op.operationId)).map((d) => `${d.method.toUpperCase()} ${d.path} (${d.op.operationId})`);
    expect(missing, "operations this test never got a success answer from: add a case for each").toEqual([]);
    for (const d of documented) expect(byId.get(d.op.operationId), `${d.op.operationId} is declared in internal/hubapi`).toBeDefined();
  });
});
