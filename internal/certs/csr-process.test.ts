import { describe, expect, it } from "vitest";
import { newKeyAndCsr } from "./csr-process.js";
import { verifiedCsrPublicKey } from "./csr.js";
import { publicKeyDerOf } from "./keys.js";

describe("a node key and its CSR from the helper process", () => {
  it("gives a CSR the hub's check accepts, for the key it gives", async () => {
    const { keyPem, csrPem } = await newKeyAndCsr("gpu-node");
    expect(keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const certified = await verifiedCsrPublicKey(csrPem);
    expect(Buffer.from(certified.rawData).equals(publicKeyDerOf(keyPem))).toBe(true);
  });

  it("makes a new key each time", async () => {
    const [a, b] = await Promise.all([newKeyAndCsr("gpu-node"), newKeyAndCsr("gpu-node")]);
    expect(a.keyPem).not.toBe(b.keyPem);
  });

  it("stops the helper when the caller gives up", async () => {
    const abort = new AbortController();
    const making = newKeyAndCsr("gpu-node", abort.signal);
    abort.abort();
    await expect(making).rejects.toMatchObject({ name: "AbortError" });
  });
});
