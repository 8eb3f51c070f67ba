import { once } from "node:events";
import { join } from "node:path";
import { Metadata, status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CertificateAuthority } from "../../certs/authority.js";
import type { NodeCredentials } from "../../certs/cert-dir.js";
import { createCsr } from "../../certs/csr.js";
import { generateP256Key } from "../../certs/keys.js";
import { CommandDispatcher } from "../../channel/command-dispatcher.js";
import { defaultHubLinkOptions, HubLink } from "../../channel/hub-link.js";
import { hubClient } from "../../channel/hub-client.js";
import type { HubMessage, NodeMessage } from "../../proto/gen/gpunode/v1/gpunode.js";
import { sleep } from "../../util/abort.js";
import { enrollNode, nodeInfo, quietLogger, startTestHub, type TestHub } from "../../../test/support/test-hub.js";
import { tempDir } from "../../../test/support/stack.js";

/** A daemon-side link with a ping handler, as the daemon wires it. */
function linkFor(t: TestHub, creds: NodeCredentials) {
  let runs = 0;
  const dispatcher = new CommandDispatcher(
    { rememberIds: 100 },
    {
      logger: quietLogger,
      metrics: null,
      handlers: {
        ping: async (cmd, signal) => {
          await sleep(cmd.delayMs, signal);
          return { $case: "ping", value: { payload: cmd.payload, runs: ++runs } };
        },
      },
    },
  );
  let seq = 0;
  const link = new HubLink(
    { ...defaultHubLinkOptions, target: t.grpcTarget },
    {
      logger: quietLogger,
      metrics: null,
      credentials: () => creds,
      unusable: () => undefined,
      hello: async () => ({ nodeId: creds.nodeId, info: nodeInfo() }),
      heartbeat: async () => ({ seq: ++seq, nodeId: creds.nodeId, uptimeSeconds: 1, versions: undefined, gpus: [], sentAtUnixMs: Date.now(), rentals: [], miners: [], draining: false }),
      dispatcher,
      onRefused: async () => {
        throw new Error("refused");
      },
    },
  );
  const abort = new AbortController();
  const running = link.run(abort.signal);
  return { link, stop: async () => (abort.abort(), await running) };
}

/** Opens a raw stream with the given certificate and returns how the hub ends it. */
async function rawStream(t: TestHub, creds: { key: string; cert: string; ca: string }, hello?: NodeMessage): Promise<ServiceError> {
  const client = hubClient(t.grpcTarget, { caCertPem: creds.ca, keyPem: creds.key, clientCertPem: creds.cert });
  try {
    const call = client.connect(new Metadata());
    call.on("data", (_m: HubMessage) => undefined);
    if (hello) call.write(hello);
    const [err] = (await once(call, "error")) as [ServiceError];
    return err;
  } finally {
    client.close();
  }
}

describe("the hub's node channel (real gRPC over mTLS)", () => {
  let t: TestHub;
  const stops: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    t = await startTestHub({ heartbeatIntervalMs: 200 });
  });
  afterEach(async () => {
    await Promise.all(stops.splice(0).map((s) => s()));
  });
  afterAll(() => t.close());

  it("refuses a client certificate from another CA", async () => {
    const other = await tempDir("other-ca");
    try {
      const ca = await CertificateAuthority.openOrCreate({ dir: other.path });
      const key = await generateP256Key();
      const signed = await ca.signNodeCertificates({ csrPem: await createCsr(key, "x"), nodeId: "intruder", wallet: "0x000000000000000000000000000000000000dEaD", lifetimeMs: 60_000, hosts: ["127.0.0.1"] });
      const err = await rawStream(t, { key: key.privateKeyPem, cert: signed.clientCertPem, ca: t.hub.caCertPem });
      expect(err.code).toBe(GrpcStatus.UNAVAILABLE);
      expect(t.hub.channel.isConnected("intruder")).toBe(false);
    } finally {
      await other.remove();
    }
  });

  it("refuses a certificate from its own CA whose node id it does not know", async () => {
    const ca = await CertificateAuthority.openOrCreate({ dir: join(t.dataDir, "ca") });
    const key = await generateP256Key();
    const signed = await ca.signNodeCertificates({ csrPem: await createCsr(key, "x"), nodeId: "never-registered", wallet: "0x000000000000000000000000000000000000dEaD", lifetimeMs: 60_000, hosts: ["127.0.0.1"] });
    const err = await rawStream(t, { key: key.privateKeyPem, cert: signed.clientCertPem, ca: t.hub.caCertPem });
    expect(err.code).toBe(GrpcStatus.UNAUTHENTICATED);
    expect(err.details).toContain("never-registered is not registered");
  });

  it("refuses a hello that names another node than the certificate", async () => {
    const creds = await enrollNode(t);
    const err = await rawStream(t, { key: creds.keyPem, cert: creds.clientCertPem, ca: creds.caCertPem }, { body: { $case: "hello", value: { nodeId: "someone-else", info: nodeInfo() } } });
    expect(err.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(err.details).toContain("someone-else");
  });

  it("runs several commands at once and answers a repeated id without running it again", async () => {
    const creds = await enrollNode(t);
    const { link, stop } = linkFor(t, creds);
    stops.push(stop);
    await once(link, "connected");
    const send = (payload: string, delayMs: number, id?: string) => t.hub.channel.sendCommand(creds.nodeId, { $case: "ping", value: { payload, delayMs } }, { timeoutMs: 20_000, id });

    const order: string[] = [];
    const slow = send("slow", 1_500).then((r) => (order.push("slow"), r));
    const fast = send("fast", 0).then((r) => (order.push("fast"), r));
    await Promise.all([slow, fast]);
    expect(order).toEqual(["fast", "slow"]); // the fast one was not queued behind the slow one

    const first = await send("once", 0, "cmd-repeat-1");
    const again = await send("once", 0, "cmd-repeat-1");
    expect(first.outcome).toEqual(again.outcome);
    expect(first.repeated).toBe(false);
    expect(again.repeated).toBe(true);
    const third = await send("other", 0);
    expect(third.outcome?.$case === "ping" && third.outcome.value.runs).toBe(first.outcome?.$case === "ping" ? first.outcome.value.runs + 1 : -1);
  });

  it("answers an unknown command kind with a clear error, not silence", async () => {
    const creds = await enrollNode(t);
    const { link, stop } = linkFor(t, creds);
    stops.push(stop);
    await once(link, "connected");
    const res = await t.hub.channel.sendCommand(creds.nodeId, { $case: "getStatus", value: {} }, { timeoutMs: 5_000 });
    expect(res.outcome).toEqual({ $case: "error", value: { code: "unknown_command", message: expect.stringContaining("getStatus") } });
  });

  it("marks a node offline after 3 missed heartbeats and online at its next one", async () => {
    const creds = await enrollNode(t);
    const { link, stop } = linkFor(t, creds);
    const presence = t.hub.presence;
    const online = new Promise<void>((resolve) => presence.on("change", (id, s) => id === creds.nodeId && s === "online" && resolve()));
    await online;
    const offline = new Promise<number>((resolve) => presence.on("change", (id, s) => id === creds.nodeId && s === "offline" && resolve(presence.missed(creds.nodeId))));
    await stop(); // heartbeats stop
    expect(presence.status(creds.nodeId)).toBe("online"); // one missed interval is not enough
    expect(await offline).toBe(3);
    const again = linkFor(t, creds);
    stops.push(again.stop);
    const back = new Promise<void>((resolve) => presence.on("change", (id, s) => id === creds.nodeId && s === "online" && resolve()));
    await back;
    expect(presence.status(creds.nodeId)).toBe("online");
    void link;
  });

  it("changes a connected node's heartbeat interval", async () => {
    const creds = await enrollNode(t);
    const { link, stop } = linkFor(t, creds);
    stops.push(stop);
    await once(link, "connected");
    const changed = once(link, "interval");
    t.hub.channel.setHeartbeatInterval(50);
    expect(await changed).toEqual([50]);
    const seq = link.heartbeatsSent;
    await once(link, "heartbeat");
    expect(link.heartbeatsSent).toBe(seq + 1);
    t.hub.channel.setHeartbeatInterval(200);
  });
});
