import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CertificateAuthority, type HubIdentity } from "./authority.js";
import { createCsr } from "./csr.js";
import { nodeIdOfPeer } from "./identity.js";
import { walletOfPeer } from "./wallet-identity.js";
import { generateP256Key } from "./keys.js";

const WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
const PATH = "/test.Who/AmI";
const utf8 = {
  serialize: (s: string) => Buffer.from(s, "utf8"),
  deserialize: (b: Buffer) => b.toString("utf8"),
};

/** grpc-js hands the server the same PeerCertificate node:tls does; the hub relies on that. */
describe("identities through grpc-js", () => {
  let ca: CertificateAuthority;
  let hub: HubIdentity;
  let server: grpc.Server;
  let port: number;

  beforeAll(async () => {
    ca = await CertificateAuthority.openOrCreate({ dir: join(await mkdtemp(join(tmpdir(), "certs-grpc-")), "ca") });
    hub = await ca.issueHubIdentity(["localhost"], 3_600_000);
    server = new grpc.Server();
    const definition: grpc.ServiceDefinition = {
      AmI: {
        path: PATH,
        requestStream: false,
        responseStream: false,
        requestSerialize: utf8.serialize,
        requestDeserialize: utf8.deserialize,
        responseSerialize: utf8.serialize,
        responseDeserialize: utf8.deserialize,
      },
    };
    server.addService(definition, {
      AmI: (call: grpc.ServerUnaryCall<string, string>, callback: grpc.sendUnaryData<string>) => {
        const peer = call.getAuthContext()?.sslPeerCertificate;
        callback(null, `${nodeIdOfPeer(peer) ?? "-"} ${walletOfPeer(peer) ?? "-"}`);
      },
    });
    const creds = grpc.ServerCredentials.createSsl(
      Buffer.from(ca.certPem),
      [{ private_key: Buffer.from(hub.keyPem), cert_chain: Buffer.from(hub.serverCertPem) }],
      true,
    );
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", creds, (err, p) => (err ? reject(err) : resolve(p))),
    );
  });

  afterAll(() => {
    server.forceShutdown();
  });

  it("reads the node id and wallet of the calling node", async () => {
    const key = await generateP256Key();
    const signed = await ca.signNodeCertificates({
      csrPem: await createCsr(key, "ignored"),
      nodeId: "node-grpc",
      wallet: WALLET,
      lifetimeMs: 3_600_000,
      hosts: [],
    });
    const client = new grpc.Client(
      `localhost:${port}`,
      grpc.credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(key.privateKeyPem), Buffer.from(signed.clientCertPem)),
    );
    try {
      const answer = await new Promise<string | undefined>((resolve, reject) =>
        client.makeUnaryRequest(PATH, utf8.serialize, utf8.deserialize, "who", (err, value) => (err ? reject(err) : resolve(value))),
      );
      expect(answer).toBe(`node-grpc ${WALLET}`);
    } finally {
      client.close();
    }
  });
});
