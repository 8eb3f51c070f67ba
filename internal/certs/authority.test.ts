import { createPrivateKey, X509Certificate } from "node:crypto";
import { chmod, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PeerCertificate } from "node:tls";
import { beforeAll, describe, expect, it } from "vitest";
import { CertificateAuthority } from "./authority.js";
import { describeCertificate } from "./certificate-info.js";
import { createCsr } from "./csr.js";
import { isHubPeer, nodeIdOfPeer } from "./identity.js";
import { walletOfPeer } from "./wallet-identity.js";
import { generateP256Key } from "./keys.js";
import { x509 } from "./x509-setup.js";

const WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
const HOUR_MS = 3_600_000;

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "certs-ca-"));
}

function ekuOf(pem: string): string[] {
  return [...(new x509.X509Certificate(pem).getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])].map(String);
}

/** What node:tls would hand the server for this certificate. */
function asPeer(pem: string) {
  const c = new X509Certificate(pem);
  const cn = /^CN=(.*)$/m.exec(c.subject)?.[1];
  return { subject: { CN: cn }, subjectaltname: c.subjectAltName } as unknown as PeerCertificate;
}

describe("CertificateAuthority files", () => {
  it("is created once and reopened with the same fingerprint, with private modes", async () => {
    const dir = join(await tempDir(), "ca");
    const first = await CertificateAuthority.openOrCreate({ dir });
    const again = await CertificateAuthority.openOrCreate({ dir });
    expect(again.fingerprint).toBe(first.fingerprint);
    expect(again.certPem).toBe(first.certPem);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, "ca.key"))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, "ca.crt"))).mode & 0o777).toBe(0o644);
    const cert = new X509Certificate(first.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.checkIssued(cert)).toBe(true);
  });

  it.each(["ca.key", "ca.crt"])("refuses a folder where %s is missing, naming it, and leaves the other alone", async (gone) => {
    const dir = join(await tempDir(), "ca");
    await CertificateAuthority.openOrCreate({ dir });
    const kept = gone === "ca.key" ? "ca.crt" : "ca.key";
    const keptBefore = (await stat(join(dir, kept))).mtimeMs;
    await rm(join(dir, gone));
    await expect(CertificateAuthority.openOrCreate({ dir })).rejects.toMatchObject({
      code: "incomplete_ca",
      message: expect.stringContaining(join(dir, gone)),
    });
    expect((await stat(join(dir, kept))).mtimeMs).toBe(keptBefore);
  });

  it("refuses a key that is not the certificate's, without printing the key", async () => {
    const dir = join(await tempDir(), "ca");
    await CertificateAuthority.openOrCreate({ dir });
    const other = await generateP256Key();
    await writeFile(join(dir, "ca.key"), other.privateKeyPem, { mode: 0o600 });
    const err = await CertificateAuthority.openOrCreate({ dir }).then(
      () => undefined,
      (e: unknown) => e as Error & { code: string },
    );
    expect(err?.code).toBe("invalid_ca");
    const keyBody = other.privateKeyPem.split("\n")[1] ?? "";
    expect(keyBody.length).toBeGreaterThan(20);
    expect(err?.message).not.toContain(keyBody.slice(0, 20));
  });

  it("refuses a CA key readable by others", async () => {
    const dir = join(await tempDir(), "ca");
    await CertificateAuthority.openOrCreate({ dir });
    await chmod(join(dir, "ca.key"), 0o644);
    await expect(CertificateAuthority.openOrCreate({ dir })).rejects.toMatchObject({ code: "insecure_permissions" });
  });
});

describe("signNodeCertificates", () => {
  let ca: CertificateAuthority;
  beforeAll(async () => {
    ca = await CertificateAuthority.openOrCreate({ dir: join(await tempDir(), "ca") });
  });

  async function sign(overrides: Partial<Parameters<CertificateAuthority["signNodeCertificates"]>[0]> = {}) {
    const key = await generateP256Key();
    const csrPem = await createCsr(key, "whatever-the-node-claims");
    const signed = await ca.signNodeCertificates({
      csrPem,
      nodeId: "node-7",
      wallet: WALLET.toLowerCase(),
      lifetimeMs: 24 * HOUR_MS,
      hosts: ["node7.example", "10.1.2.3", "::1"],
      ...overrides,
    });
    return { key, signed };
  }

  it("issues a client and a server certificate with the hub's identity, not the CSR's", async () => {
    const before = Date.now();
    const { key, signed } = await sign();
    const client = describeCertificate(signed.clientCertPem);
    const server = describeCertificate(signed.serverCertPem);

    expect(client.commonName).toBe("node-7");
    expect(client.uris).toEqual(["urn:gpunode:node:node-7", `ethereum:${WALLET}`]);
    expect(client.dnsNames).toEqual([]);
    expect(server.commonName).toBe("node-7");
    expect(server.uris).toEqual(["urn:gpunode:node:node-7"]);
    expect(server.dnsNames).toEqual(["node7.example"]);
    expect(server.ipAddresses).toEqual(["10.1.2.3", "::1"]);

    expect(ekuOf(signed.clientCertPem)).toEqual([x509.ExtendedKeyUsage.clientAuth]);
    expect(ekuOf(signed.serverCertPem)).toEqual([x509.ExtendedKeyUsage.serverAuth]);
    const clientX509 = new X509Certificate(signed.clientCertPem);
    expect(clientX509.ca).toBe(false);
    expect(clientX509.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    expect(clientX509.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(clientX509.checkPrivateKey(createPrivateKey(key.privateKeyPem))).toBe(true);

    expect(signed.serial).toBe(client.serial);
    expect(signed.notBefore.getTime()).toBeLessThanOrEqual(before - 59_000);
    expect(signed.notAfter.getTime()).toBeGreaterThanOrEqual(before + 24 * HOUR_MS - 1000);
    expect(signed.notAfter.getTime()).toBeLessThanOrEqual(Date.now() + 24 * HOUR_MS);

    const peer = asPeer(signed.clientCertPem);
    expect(nodeIdOfPeer(peer)).toBe("node-7");
    expect(walletOfPeer(peer)).toBe(WALLET);
    expect(isHubPeer(peer)).toBe(false);
  });

  it("gives every certificate its own positive 16-byte serial", async () => {
    const serials = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const { signed } = await sign();
      serials.add(signed.serial);
      serials.add(describeCertificate(signed.serverCertPem).serial);
    }
    expect(serials.size).toBe(8);
    for (const s of serials) expect(s).toMatch(/^[4-7][0-9a-f]{31}$/);
  });

  it("refuses a CSR whose signature does not match its content", async () => {
    const key = await generateP256Key();
    const der = Buffer.from(new x509.Pkcs10CertificateRequest(await createCsr(key, "node-aaaa")).rawData);
    const at = der.indexOf("node-aaaa");
    expect(at).toBeGreaterThan(0);
    der.write("node-bbbb", at); // a changed subject under the original signature
    const tampered = new x509.Pkcs10CertificateRequest(der).toString("pem");
    await expect(sign({ csrPem: tampered })).rejects.toMatchObject({ code: "invalid_csr" });
  });

  it("refuses a CSR for a key other than P-256", async () => {
    const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, ["sign", "verify"]);
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: "CN=node-7",
      keys,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-384" },
    });
    await expect(sign({ csrPem: csr.toString("pem") })).rejects.toMatchObject({
      code: "unsupported_key",
      message: expect.stringContaining("P-384"),
    });
  });

  it("refuses garbage, bad ids, bad wallets, bad hosts and bad lifetimes", async () => {
    await expect(sign({ csrPem: "not a csr" })).rejects.toMatchObject({ code: "invalid_csr" });
    await expect(sign({ nodeId: "bad id" })).rejects.toMatchObject({ code: "invalid_node_id" });
    await expect(sign({ nodeId: "rental-hub" })).rejects.toMatchObject({ code: "invalid_node_id" });
    await expect(sign({ wallet: "0xnope" })).rejects.toMatchObject({ code: "invalid_wallet" });
    await expect(sign({ hosts: ["bad host"] })).rejects.toMatchObject({ code: "invalid_host" });
    await expect(sign({ lifetimeMs: 0 })).rejects.toMatchObject({ code: "invalid_lifetime" });
  });

  it("never issues past the CA's own expiry", async () => {
    const short = await CertificateAuthority.openOrCreate({ dir: join(await tempDir(), "ca"), validityDays: 1 });
    const key = await generateP256Key();
    const signed = await short.signNodeCertificates({
      csrPem: await createCsr(key, "x"),
      nodeId: "node-7",
      wallet: WALLET,
      lifetimeMs: 30 * 24 * HOUR_MS,
      hosts: [],
    });
    expect(signed.notAfter.getTime()).toBeLessThanOrEqual(describeCertificate(short.certPem).notAfter.getTime());
  });
});

describe("issueHubIdentity", () => {
  it("gives the hub a server and a client certificate for one key; only the client one is a hub peer", async () => {
    const ca = await CertificateAuthority.openOrCreate({ dir: join(await tempDir(), "ca") });
    const hub = await ca.issueHubIdentity(["hub.example", "127.0.0.1"], HOUR_MS);
    for (const pem of [hub.serverCertPem, hub.clientCertPem]) {
      expect(new X509Certificate(pem).checkPrivateKey(createPrivateKey(hub.keyPem))).toBe(true);
    }
    expect(ekuOf(hub.serverCertPem)).toEqual([x509.ExtendedKeyUsage.serverAuth]);
    expect(ekuOf(hub.clientCertPem)).toEqual([x509.ExtendedKeyUsage.clientAuth]);
    expect(describeCertificate(hub.serverCertPem)).toMatchObject({ dnsNames: ["hub.example"], ipAddresses: ["127.0.0.1"] });
    expect(isHubPeer(asPeer(hub.clientCertPem))).toBe(true);
    expect(nodeIdOfPeer(asPeer(hub.clientCertPem))).toBeUndefined();
  });
});
