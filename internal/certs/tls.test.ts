import { once } from "node:events";
import { mkdtemp } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { beforeAll, describe, expect, it } from "vitest";
import { CertificateAuthority, type HubIdentity, type SignedNodeCertificates } from "./authority.js";
import { createCsr } from "./csr.js";
import { isHubPeer, nodeIdOfPeer } from "./identity.js";
import { walletOfPeer } from "./wallet-identity.js";
import { generateP256Key, type NodeKey } from "./keys.js";

const WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
const HOUR_MS = 3_600_000;

interface Side {
  peer?: tls.PeerCertificate;
  error?: Error & { code?: string };
}

/**
 * One real mutual-TLS connection over loopback. The server demands a client certificate from `ca`;
 * the client verifies the server against `ca` too. Resolves once both ends know how it went.
 */
async function handshake(server: tls.TlsOptions, client: tls.ConnectionOptions): Promise<{ server: Side; client: Side }> {
  const srv = tls.createServer({ requestCert: true, rejectUnauthorized: true, ...server });
  const serverSide = new Promise<Side>((resolve) => {
    srv.on("secureConnection", (socket) => {
      resolve({ peer: socket.getPeerCertificate() });
      socket.end("ok");
    });
    srv.on("tlsClientError", (error) => resolve({ error }));
  });
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address() as AddressInfo;
  const clientSide = new Promise<Side>((resolve) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ...client });
    // With TLS 1.3 the client may finish before the server has judged its certificate: only the
    // server's "ok" proves both sides accepted.
    socket.on("data", () => {
      resolve({ peer: socket.getPeerCertificate() });
      socket.destroy();
    });
    socket.on("error", (error) => resolve({ error }));
    socket.on("close", () => resolve({ error: new Error("closed before the server answered") }));
  });
  const [s, c] = await Promise.all([serverSide, clientSide]);
  srv.close();
  return { server: s, client: c };
}

async function enroll(ca: CertificateAuthority, nodeId: string): Promise<{ key: NodeKey; signed: SignedNodeCertificates }> {
  const key = await generateP256Key();
  const signed = await ca.signNodeCertificates({
    csrPem: await createCsr(key, nodeId),
    nodeId,
    wallet: WALLET,
    lifetimeMs: HOUR_MS,
    hosts: ["localhost", "127.0.0.1"],
  });
  return { key, signed };
}

describe("certificates in real mutual TLS", () => {
  let ca: CertificateAuthority;
  let otherCa: CertificateAuthority;
  let hub: HubIdentity;
  let node: { key: NodeKey; signed: SignedNodeCertificates };

  beforeAll(async () => {
    const root = await mkdtemp(join(tmpdir(), "certs-tls-"));
    ca = await CertificateAuthority.openOrCreate({ dir: join(root, "ca") });
    otherCa = await CertificateAuthority.openOrCreate({ dir: join(root, "other-ca") });
    hub = await ca.issueHubIdentity(["localhost", "127.0.0.1"], HOUR_MS);
    node = await enroll(ca, "node-42");
  });

  const hubServer = (): tls.TlsOptions => ({ key: hub.keyPem, cert: hub.serverCertPem, ca: ca.certPem });

  it("lets the hub read the node id and wallet of a node that calls it", async () => {
    const r = await handshake(hubServer(), { key: node.key.privateKeyPem, cert: node.signed.clientCertPem, ca: ca.certPem });
    expect(r.server.error).toBeUndefined();
    expect(r.client.error).toBeUndefined();
    expect(nodeIdOfPeer(r.server.peer)).toBe("node-42");
    expect(walletOfPeer(r.server.peer)).toBe(WALLET);
    expect(isHubPeer(r.server.peer)).toBe(false);
    expect(isHubPeer(r.client.peer)).toBe(true); // and the node knows it reached the hub, not just any server of the CA
  });

  it("lets a node's API recognise the hub calling it", async () => {
    const nodeServer = { key: node.key.privateKeyPem, cert: node.signed.serverCertPem, ca: ca.certPem };
    const r = await handshake(nodeServer, { key: hub.keyPem, cert: hub.clientCertPem, ca: ca.certPem, servername: "localhost" });
    expect(r.client.error).toBeUndefined();
    expect(isHubPeer(r.server.peer)).toBe(true);
    expect(nodeIdOfPeer(r.server.peer)).toBeUndefined();
    expect(nodeIdOfPeer(r.client.peer)).toBe("node-42");
  });

  it("refuses a node certificate from another CA", async () => {
    const stranger = await enroll(otherCa, "node-42");
    const r = await handshake(hubServer(), { key: stranger.key.privateKeyPem, cert: stranger.signed.clientCertPem, ca: ca.certPem });
    expect(r.server.peer).toBeUndefined();
    expect(r.server.error).toBeDefined();
    expect(r.client.error).toBeDefined();
  });

  it("refuses a node's server certificate used as a client certificate", async () => {
    const r = await handshake(hubServer(), { key: node.key.privateKeyPem, cert: node.signed.serverCertPem, ca: ca.certPem });
    expect(r.server.peer).toBeUndefined();
    expect(r.server.error).toBeDefined();
  });

  it("refuses a node's client certificate used as a server certificate", async () => {
    const misused = { key: node.key.privateKeyPem, cert: node.signed.clientCertPem, ca: ca.certPem };
    // Skip the host-name check so that only the certificate's purpose can fail the handshake.
    const client = { key: hub.keyPem, cert: hub.clientCertPem, ca: ca.certPem, checkServerIdentity: () => undefined };
    const r = await handshake(misused, client);
    expect(r.client.error?.code).toBe("INVALID_PURPOSE");
    expect(r.server.peer).toBeUndefined();

    const proper = await handshake({ ...misused, cert: node.signed.serverCertPem }, client);
    expect(proper.client.error).toBeUndefined();
  });

  it("loads every PEM in a secure context", () => {
    for (const [key, cert] of [
      [hub.keyPem, hub.serverCertPem],
      [hub.keyPem, hub.clientCertPem],
      [node.key.privateKeyPem, node.signed.clientCertPem],
      [node.key.privateKeyPem, node.signed.serverCertPem],
    ] as const) {
      expect(() => tls.createSecureContext({ key, cert, ca: ca.certPem })).not.toThrow();
    }
    expect(() => tls.createSecureContext({ key: hub.keyPem, cert: node.signed.clientCertPem })).toThrow();
  });
});
