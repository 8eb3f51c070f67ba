import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { CertificateAuthority } from "./authority.js";
import { CertDir, type NodeCredentials } from "./cert-dir.js";
import { createCsr } from "./csr.js";
import { generateP256Key } from "./keys.js";

const WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

async function credentialsFrom(ca: CertificateAuthority, nodeId: string): Promise<NodeCredentials> {
  const key = await generateP256Key();
  const signed = await ca.signNodeCertificates({
    csrPem: await createCsr(key, nodeId),
    nodeId,
    wallet: WALLET,
    lifetimeMs: 3_600_000,
    hosts: ["localhost"],
  });
  return {
    nodeId,
    keyPem: key.privateKeyPem,
    clientCertPem: signed.clientCertPem,
    serverCertPem: signed.serverCertPem,
    caCertPem: ca.certPem,
  };
}

async function freshDir(): Promise<CertDir> {
  return new CertDir(join(await mkdtemp(join(tmpdir(), "certs-dir-")), "certs"));
}

describe("CertDir", () => {
  let ca: CertificateAuthority;
  let creds: NodeCredentials;
  beforeAll(async () => {
    ca = await CertificateAuthority.openOrCreate({ dir: await mkdtemp(join(tmpdir(), "certs-dir-ca-")) });
    creds = await credentialsFrom(ca, "node-9");
  });

  it("has nothing before the first save, even when the CA was trusted already", async () => {
    const dir = await freshDir();
    expect(await dir.load()).toBeUndefined();
    expect(await dir.loadCa()).toBeUndefined();
    expect(await dir.loadNodeId()).toBeUndefined();
    await dir.saveCa(ca.certPem);
    expect(await dir.loadCa()).toBe(ca.certPem);
    expect(await dir.load()).toBeUndefined();
  });

  it("round-trips credentials with private modes and no leftovers", async () => {
    const dir = await freshDir();
    await dir.save(creds);
    expect(await dir.load()).toEqual(creds);
    expect(await dir.loadNodeId()).toBe("node-9");
    expect((await stat(dir.dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir.dir, "node.key"))).mode & 0o777).toBe(0o600);
    expect((await readdir(dir.dir)).sort()).toEqual(["ca.crt", "node-id", "node-server.crt", "node.crt", "node.key"]);
  });

  it("refuses to save a key that is not the certificates' key", async () => {
    const other = await generateP256Key();
    const dir = await freshDir();
    await expect(dir.save({ ...creds, keyPem: other.privateKeyPem })).rejects.toMatchObject({
      code: "invalid_credentials",
      message: expect.stringContaining("node.crt"),
    });
    expect(await dir.load()).toBeUndefined();
  });

  it("reports a key that no longer matches its certificate, naming the file", async () => {
    const dir = await freshDir();
    await dir.save(creds);
    const other = await credentialsFrom(ca, "node-9");
    await writeFile(join(dir.dir, "node-server.crt"), other.serverCertPem);
    await expect(dir.load()).rejects.toMatchObject({
      code: "corrupt_cert_dir",
      message: expect.stringContaining(join(dir.dir, "node-server.crt")),
    });
  });

  it("reports certificates from another CA, a wrong node id and a missing file", async () => {
    const otherCa = await CertificateAuthority.openOrCreate({ dir: await mkdtemp(join(tmpdir(), "certs-dir-ca2-")) });
    const dir = await freshDir();
    await dir.save(creds);
    await writeFile(join(dir.dir, "ca.crt"), otherCa.certPem);
    await expect(dir.load()).rejects.toMatchObject({ code: "corrupt_cert_dir", message: expect.stringContaining("ca.crt") });

    await dir.save(creds);
    await writeFile(join(dir.dir, "node-id"), "node-10\n");
    await expect(dir.load()).rejects.toMatchObject({ code: "corrupt_cert_dir", message: expect.stringContaining("not for node node-10") });

    await dir.save(creds);
    await rm(join(dir.dir, "node.crt"));
    await expect(dir.load()).rejects.toMatchObject({ code: "corrupt_cert_dir", message: expect.stringContaining("node.crt") });
  });

  it("refuses a key file readable by others", async () => {
    const dir = await freshDir();
    await dir.save(creds);
    await chmod(join(dir.dir, "node.key"), 0o640);
    await expect(dir.load()).rejects.toMatchObject({ code: "insecure_permissions" });
  });

  it("finishes a save that crashed after committing, and drops one that crashed before", async () => {
    const renewed = await credentialsFrom(ca, "node-9");
    const committed = await freshDir();
    await committed.save(creds);
    // The state a crash leaves between the commit marker and the last rename.
    await writeFile(join(committed.dir, ".node.key.tmp"), renewed.keyPem, { mode: 0o600 });
    await writeFile(join(committed.dir, "node.crt"), renewed.clientCertPem);
    await writeFile(join(committed.dir, ".node-server.crt.tmp"), renewed.serverCertPem);
    await writeFile(join(committed.dir, ".pending-files"), JSON.stringify(["node.key", "node.crt", "node-server.crt"]));
    expect(await committed.load()).toEqual(renewed);
    expect(await readdir(committed.dir)).not.toContain(".pending-files");

    const uncommitted = await freshDir();
    await uncommitted.save(creds);
    await writeFile(join(uncommitted.dir, ".node.key.tmp"), renewed.keyPem, { mode: 0o600 });
    expect(await uncommitted.load()).toEqual(creds);
    expect((await readdir(uncommitted.dir)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    expect(await readFile(join(uncommitted.dir, "node.key"), "utf8")).toBe(creds.keyPem);
  });
});
