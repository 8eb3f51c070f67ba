import { rm } from "node:fs/promises";
import { join } from "node:path";
import { credentials, Metadata, status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { type BaseWallet, Wallet } from "ethers";
import { afterEach, describe, expect, it } from "vitest";
import { CertDir } from "../certs/cert-dir.js";
import { requestJson } from "../httpclient/json-client.js";
import { DockerodeEngine } from "../container/dockerode-engine.js";
import { LABELS } from "../container/labels.js";
import { NodeApiServiceClient, type RentalInfo, RentalState, StartRental } from "../proto/gen/gpunode/v1/gpunode.js";
import { captureLogs } from "../../test/support/log-capture.js";
import { signIn } from "../../test/support/renter.js";
import { removeNodeLeftovers } from "../../test/support/node-leftovers.js";
import { tempDir, writeKeyFile } from "../../test/support/stack.js";
import { enrollNode, nodeOnline, startTestHub, type TestHub } from "../../test/support/test-hub.js";
import { NodeDaemon } from "./node-daemon.js";
import { defaultDaemonOptions, type DaemonOptions } from "./options.js";

interface NodeDetail {
  id: string;
  status: string;
  certificates: { serial: string; reason: string }[];
}

describe("node-daemon in process against a real hub", () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(hubOverrides: Parameters<typeof startTestHub>[0] = {}) {
    const t = await startTestHub(hubOverrides);
    cleanups.push(() => t.close());
    const dir = await tempDir("daemon");
    cleanups.push(dir.remove);
    const wallet = Wallet.createRandom();
    const opts: DaemonOptions = {
      ...defaultDaemonOptions,
      hub: t.grpcTarget,
      hubHttp: t.http.baseUrl,
      hubCaFingerprint: t.hub.info.caFingerprint,
      host: "127.0.0.1",
      certDir: join(dir.path, "certs"),
      stateDir: join(dir.path, "state"),
      dockerSocket: join(dir.path, "no-docker.sock"),
      apiPort: 0,
      apiListenHost: "127.0.0.1",
      privateKeyFile: await writeKeyFile(dir.path, wallet),
      nvmlLibrary: "/nonexistent/libnvidia-ml.so.1",
      metricsListen: undefined,
    };
    return { t, opts, wallet };
  }

  async function start(opts: DaemonOptions) {
    const logs = captureLogs();
    const daemon = await NodeDaemon.start(opts, { logger: logs.logger });
    cleanups.push(() => daemon.close());
    return { daemon, logs };
  }

  /** The node as its provider sees it (certificates included). */
  const detail = async (t: TestHub, id: string, wallet: BaseWallet) => requestJson<NodeDetail>(t.http, "GET", `/v1/nodes/${id}`, { bearer: await signIn(t.http, wallet) });

  it("rotates its certificate over mTLS before it expires, with a new key and no new sign-in", async () => {
    const { t, opts, wallet } = await setup({ certLifetimeMs: 3_000 });
    const { daemon, logs } = await start(opts);
    const firstKey = daemon.identity.credentials.keyPem;
    await logs.waitFor((l) => l.msg.startsWith("certificate renewed"), "a renewal");
    await logs.waitForNext((l) => l.msg === "connected to the hub over mTLS", "reconnection on the new certificate");
    const node = await detail(t, daemon.identity.nodeId, wallet);
    expect(node.certificates[0]?.reason).toBe("bootstrap");
    expect(node.certificates.slice(1).every((c) => c.reason === "renewal")).toBe(true);
    expect(node.certificates.length).toBeGreaterThanOrEqual(2);
    expect(logs.lines.filter((l) => l.msg.startsWith("signed in as"))).toHaveLength(1);
    expect(daemon.identity.credentials.keyPem).not.toBe(firstKey);
    const saved = await new CertDir(opts.certDir).load();
    expect(saved?.clientCertPem).toBe(daemon.identity.credentials.clientCertPem);
  });

  it("signs in again when its saved certificate has expired, and keeps its node id", async () => {
    const { t, opts, wallet } = await setup({ certLifetimeMs: 1 });
    const expired = await enrollNode(t, { wallet, machineId: "b".repeat(64) });
    await new CertDir(opts.certDir).save(expired);
    // The same hub data, now handing out normal certificates.
    await t.hub.close();
    const again = await startTestHub({ dataDir: t.dataDir, grpcListen: { host: "127.0.0.1", port: t.hub.info.grpcPort }, httpListen: { host: "127.0.0.1", port: t.hub.info.httpPort } });
    cleanups.push(() => again.hub.close());
    const { daemon, logs } = await start(opts);
    expect(logs.lines.some((l) => l.msg === "the node certificate has expired; signing in again")).toBe(true);
    expect(daemon.identity.nodeId).toBe(expired.nodeId);
    expect(daemon.identity.expired()).toBe(false);
    await logs.waitFor((l) => l.msg === "connected to the hub over mTLS", "connection");
  });

  it("signs in again when the hub refuses its certificate (the hub lost its node records)", async () => {
    const { t, opts, wallet } = await setup();
    const { daemon, logs } = await start(opts);
    await logs.waitFor((l) => l.msg === "connected to the hub over mTLS", "connection");
    const oldId = daemon.identity.nodeId;
    const refused = logs.waitForNext((l) => l.msg === "the hub refused this node's certificate; signing in again", "refusal");
    const registered = logs.waitForNext((l) => l.msg.startsWith("node registered:"), "fresh registration");
    const reconnected = registered.then(() => logs.waitForNext((l) => l.msg === "connected to the hub over mTLS", "reconnection"));
    await t.hub.close();
    await rm(join(t.dataDir, "hub.db"), { force: true });
    const fresh = await startTestHub({ dataDir: t.dataDir, grpcListen: { host: "127.0.0.1", port: t.hub.info.grpcPort }, httpListen: { host: "127.0.0.1", port: t.hub.info.httpPort } });
    cleanups.push(() => fresh.hub.close());
    await refused;
    const newId = (await registered).nodeId as string;
    await reconnected;
    expect(daemon.identity.nodeId).toBe(newId);
    await nodeOnline(fresh, daemon.identity.nodeId);
    expect(daemon.identity.nodeId).not.toBe(oldId);
    expect((await detail(fresh, daemon.identity.nodeId, wallet)).status).toBe("online");
  });

  it("keeps its running rentals when a fresh sign-in gives it a new node id, and adopts them after a restart", async () => {
    // Unique: rentals' networks are named by rental id, and other tests on this engine use short ids too.
    const RENTAL = `survivor-${process.pid}-${Date.now()}`;
    const { t, opts } = await setup();
    const withDocker: DaemonOptions = { ...opts, dockerSocket: undefined, enableMining: false, sshPorts: { first: 46_200, last: 46_209 } };
    const engine = new DockerodeEngine();
    const first = await start(withDocker);
    await first.logs.waitFor((l) => l.msg === "connected to the hub over mTLS", "connection");
    const oldId = first.daemon.identity.nodeId;
    const started = await t.hub.channel.sendCommand(
      oldId,
      { $case: "startRental", value: StartRental.fromPartial({ rentalId: RENTAL, image: "gpunode-test/busybox:latest", gpus: { count: 0, ids: [], model: "" }, command: ["sleep", "1000"], memoryBytes: 64 * 1024 ** 2 }) },
      { timeoutMs: 30_000 },
    );
    expect(started.outcome).toMatchObject({ $case: "rental", value: { state: RentalState.RENTAL_STATE_RUNNING } });
    cleanups.push(() => removeNodeLeftovers(engine, oldId));

    // The hub loses its records: the daemon signs in again as a new node.
    const registered = first.logs.waitForNext((l) => l.msg.startsWith("node registered:"), "fresh registration");
    await t.hub.close();
    await rm(join(t.dataDir, "hub.db"), { force: true });
    const fresh = await startTestHub({ dataDir: t.dataDir, grpcListen: { host: "127.0.0.1", port: t.hub.info.grpcPort }, httpListen: { host: "127.0.0.1", port: t.hub.info.httpPort } });
    cleanups.push(() => fresh.hub.close());
    const newId = (await registered).nodeId as string;
    expect(newId).not.toBe(oldId);

    // Restarted under its new id, it still holds the rental: adopted and reported, not orphaned.
    await first.daemon.close();
    const reported = new Promise<RentalInfo | undefined>((resolve) =>
      fresh.hub.channel.events.on("heartbeat", (id, hb) => id === newId && hb.rentals.length > 0 && resolve(hb.rentals.find((r) => r.rentalId === RENTAL))),
    );
    const second = await start(withDocker);
    expect(second.daemon.identity.nodeId).toBe(newId);
    expect(await reported).toMatchObject({ state: RentalState.RENTAL_STATE_RUNNING, adopted: true });
    expect(await engine.list({ labels: { [LABELS.rentalId]: RENTAL } })).toEqual([expect.objectContaining({ running: true })]);
  });

  it("serves its API to the hub's identity only", async () => {
    const { t, opts, wallet } = await setup();
    const { daemon, logs } = await start(opts);
    await logs.waitFor((l) => l.msg === "connected to the hub over mTLS", "connection");
    const live = await requestJson<{ nodeId: string; hubConnected: boolean; heartbeatsSent: number }>(t.http, "GET", `/v1/nodes/${daemon.identity.nodeId}/live`, {
      bearer: await signIn(t.http, wallet),
    });
    expect(live.nodeId).toBe(daemon.identity.nodeId);
    expect(live.hubConnected).toBe(true);

    // Another node holds a valid certificate from the same CA, but is not the hub.
    const other = await enrollNode(t);
    const node = await t.hub.store.getNode(daemon.identity.nodeId);
    const client = new NodeApiServiceClient(`127.0.0.1:${node?.apiPort}`, credentials.createSsl(Buffer.from(other.caCertPem), Buffer.from(other.keyPem), Buffer.from(other.clientCertPem), { checkServerIdentity: () => undefined }), {
      "grpc.ssl_target_name_override": daemon.identity.nodeId,
    });
    const err = await new Promise<ServiceError | null>((resolve) => client.getStatus({}, new Metadata(), (e) => resolve(e)));
    client.close();
    expect(err?.code).toBe(GrpcStatus.PERMISSION_DENIED);
  });
});
