import { join } from "node:path";
import { credentials, Metadata, type ServiceError, status as GrpcStatus } from "@grpc/grpc-js";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CertDir } from "../../internal/certs/cert-dir.js";
import type { NodeCredentials } from "../../internal/certs/credentials.js";
import { HubChannelServiceClient } from "../../internal/proto/gen/gpunode/v1/gpunode.js";
import { HUB_SCRIPT, Program } from "../support/program.js";
import { daemonArgs, getJson, type HubProcess, signInToHub, startDaemon, startHub, tempDir, writeKeyFile } from "../support/stack.js";

const CONNECTED = "connected to the hub over mTLS";

/** Opens a node stream with these credentials and resolves with how the hub ends it. */
function streamStatus(hub: HubProcess, creds: NodeCredentials): Promise<ServiceError> {
  const client = new HubChannelServiceClient(`127.0.0.1:${hub.grpcPort}`, credentials.createSsl(Buffer.from(creds.caCertPem), Buffer.from(creds.keyPem), Buffer.from(creds.clientCertPem)));
  return new Promise((resolve) => {
    const call = client.connect(new Metadata());
    call.on("error", (err: ServiceError) => {
      client.close();
      resolve(err);
    });
    call.on("data", () => undefined);
    call.write({ body: { $case: "hello", value: { nodeId: creds.nodeId, info: undefined } } });
  });
}

/** The hub's operator shuts a node, a wallet or a certificate out with `rental-hub ban|revoke-cert`, on real processes. */
describe("the operator's bans and revocations", () => {
  const provider = Wallet.createRandom();
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let hub: HubProcess;
  let daemon: Program;
  let nodeId: string;
  let certDir: string;

  const operator = async (...args: string[]) => {
    const p = new Program("rental-hub", HUB_SCRIPT, [...args, "--data-dir", join(dir.path, "hub")]);
    const { code } = await p.exited;
    return { code, output: p.output };
  };

  beforeAll(async () => {
    dir = await tempDir("operator");
    hub = await startHub(join(dir.path, "hub"), { args: ["--heartbeat-interval", "1s", "--access-refresh", "200ms", "--sign-ins-per-wallet", "600"] });
    certDir = join(dir.path, "certs");
    daemon = startDaemon(daemonArgs(hub, await writeKeyFile(dir.path, provider), certDir, ["-docker-socket", join(dir.path, "no-docker.sock")]));
    nodeId = (await daemon.waitFor((l) => l.created === true, "registration")).nodeId as string;
    await daemon.waitFor((l) => l.msg === CONNECTED, "connection");
  });
  afterAll(async () => {
    await daemon?.kill("SIGKILL");
    await hub?.program.kill("SIGKILL");
    await dir?.remove();
  });

  it("cuts a banned node's stream and refuses its sign-in until the ban is lifted", async () => {
    const refused = daemon.waitForNext((l) => JSON.stringify(l).includes("node_banned") && JSON.stringify(l).includes("fraud"), "the ban, in the daemon's log");
    expect(await operator("ban", "--node", nodeId, "--reason", "fraud")).toMatchObject({ code: 0, output: expect.stringContaining(`banned node ${nodeId}`) });
    await refused;
    await hub.program.waitFor((l) => l.msg === "closing a node's stream: the operator shut it out" && l.nodeId === nodeId, "the hub closing the stream");
    expect((await operator("access")).output).toMatch(new RegExp(`banned +node +${nodeId}.*fraud`));

    const back = daemon.waitForNext((l) => l.msg === CONNECTED, "reconnection after the ban is lifted", 30_000);
    expect(await operator("unban", "--node", nodeId)).toMatchObject({ code: 0 });
    await back;
  });

  it("refuses a revoked certificate on every stream; the node signs in again for a new one", async () => {
    const old = (await new CertDir(certDir).load())!;
    const token = await signInToHub(hub, provider);
    const serial = (await getJson<{ certificate: { serial: string } }>(`${hub.httpUrl}/v1/nodes/${nodeId}`, token)).certificate.serial;
    const renewed = daemon.waitForNext((l) => l.msg === CONNECTED, "a stream on a new certificate", 30_000);
    expect(await operator("revoke-cert", serial, "--reason", "key leaked")).toMatchObject({ code: 0, output: expect.stringContaining(`revoked certificate ${serial} of node ${nodeId}`) });
    await renewed;
    const now = (await new CertDir(certDir).load())!;
    expect(now.nodeId).toBe(nodeId);
    expect(now.clientCertPem).not.toBe(old.clientCertPem);
    // Whoever holds the leaked key and certificate is refused.
    expect(await streamStatus(hub, old)).toMatchObject({ code: GrpcStatus.UNAUTHENTICATED, details: expect.stringContaining("certificate_revoked") });
    expect(await operator("revoke-cert", "0123abcd")).toMatchObject({ code: 1, output: expect.stringContaining("no certificate with serial 0123abcd") });
  });

  it("bans a wallet: its nodes are cut off, its sessions end and it cannot sign in", async () => {
    const token = await signInToHub(hub, provider);
    const cut = daemon.waitForNext((l) => JSON.stringify(l).includes("wallet_banned"), "the wallet ban, in the daemon's log");
    expect(await operator("ban", "--wallet", provider.address, "--reason", "chargebacks")).toMatchObject({ code: 0 });
    await cut;
    await expect(getJson(`${hub.httpUrl}/v1/rentals`, token)).rejects.toThrow(/401/);
    await expect(signInToHub(hub, provider)).rejects.toMatchObject({ status: 403, code: "wallet_banned" });
    expect(await operator("ban", "--wallet", "0x123")).toMatchObject({ code: 2, output: expect.stringContaining("not an Ethereum address") });
  });
});
