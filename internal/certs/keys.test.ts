import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createCsr } from "./csr.js";
import { generateP256Key, importP256PrivateKey } from "./keys.js";
import { x509 } from "./x509-setup.js";

const DATA = new TextEncoder().encode("proof");
const ECDSA_SHA256 = { name: "ECDSA", hash: "SHA-256" } as const;

describe("P-256 keys", () => {
  it("reimports a generated key with a working public half", async () => {
    const generated = await generateP256Key();
    expect(generated.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const imported = await importP256PrivateKey(generated.privateKeyPem);
    const signature = await crypto.subtle.sign(ECDSA_SHA256, imported.privateKey, DATA);
    expect(await crypto.subtle.verify(ECDSA_SHA256, imported.publicKey, signature, DATA)).toBe(true);
    expect(await crypto.subtle.verify(ECDSA_SHA256, generated.keys.publicKey, signature, DATA)).toBe(true);
  });

  it("accepts a SEC1 'EC PRIVATE KEY' as openssl ecparam writes it", async () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const sec1 = privateKey.export({ type: "sec1", format: "pem" }).toString();
    const imported = await importP256PrivateKey(sec1);
    expect(imported.publicKey.algorithm).toMatchObject({ name: "ECDSA", namedCurve: "P-256" });
  });

  it("refuses other curves and algorithms, and never echoes the key", async () => {
    const p384 = generateKeyPairSync("ec", { namedCurve: "secp384r1" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    await expect(importP256PrivateKey(p384)).rejects.toMatchObject({ code: "unsupported_key" });
    const ed = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    await expect(importP256PrivateKey(ed)).rejects.toMatchObject({ code: "unsupported_key" });

    const broken = (await generateP256Key()).privateKeyPem.replace(/\n(.{10})/, "\n!!!!!!!!!!");
    const err = await importP256PrivateKey(broken).then(() => undefined, (e: unknown) => e as Error & { code: string });
    expect(err?.code).toBe("invalid_key");
    const body = broken.split("\n")[1] ?? "";
    expect(err?.message).not.toContain(body.slice(10, 40));
  });
});

describe("createCsr", () => {
  it("makes a self-signed SHA-256 ECDSA request for the key", async () => {
    const key = await generateP256Key();
    const csr = new x509.Pkcs10CertificateRequest(await createCsr(key, "node-1"));
    expect(await csr.verify()).toBe(true);
    expect(csr.subjectName.getField("CN")).toEqual(["node-1"]);
    expect(csr.signatureAlgorithm).toMatchObject({ name: "ECDSA", hash: { name: "SHA-256" } });
    const spki = createPublicKey(createPrivateKey(key.privateKeyPem)).export({ type: "spki", format: "der" });
    expect(Buffer.from(csr.publicKey.rawData)).toEqual(spki);
  });
});
