import { X509Certificate } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CertificateAuthority } from "./authority.js";
import { describeCertificate } from "./certificate-info.js";
import { CertificateError } from "./errors.js";
import { certificateFingerprint, normalizeFingerprint } from "./fingerprint.js";

const HEX = "ab".repeat(16) + "0123456789abcdef".repeat(2);
const CANONICAL = `sha256:${HEX}`;
const PAIRS = HEX.toUpperCase().match(/../g)!.join(":");

describe("normalizeFingerprint", () => {
  it.each([
    ["canonical", CANONICAL],
    ["upper-case prefix and hex", `SHA256:${HEX.toUpperCase()}`],
    ["prefix with colon pairs", `sha256:${PAIRS}`],
    ["bare hex", HEX],
    ["bare colon pairs", PAIRS],
    ["openssl x509 -fingerprint output", `SHA256 Fingerprint=${PAIRS}`],
    ["surrounding whitespace", `  ${CANONICAL}\n`],
  ])("accepts %s", (_name, text) => {
    expect(normalizeFingerprint(text)).toBe(CANONICAL);
  });

  it.each([
    ["empty", ""],
    ["too short", HEX.slice(2)],
    ["too long", HEX + "00"],
    ["not hex", HEX.slice(1) + "g"],
    ["uneven colons", `${HEX.slice(0, 3)}:${HEX.slice(3)}`],
    ["other algorithm", `sha1:${HEX}`],
    ["trailing colon", `${PAIRS}:`],
  ])("refuses %s", (_name, text) => {
    expect(() => normalizeFingerprint(text)).toThrow(expect.objectContaining({ code: "invalid_fingerprint" }));
  });
});

describe("certificateFingerprint and describeCertificate", () => {
  it("hash the DER exactly as OpenSSL does", async () => {
    const ca = await CertificateAuthority.openOrCreate({ dir: join(await mkdtemp(join(tmpdir(), "certs-fp-")), "ca") });
    const openssl = new X509Certificate(ca.certPem).fingerprint256;
    expect(certificateFingerprint(ca.certPem)).toBe(normalizeFingerprint(openssl));
    expect(ca.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);

    const info = describeCertificate(ca.certPem);
    expect(info.commonName).toBe("rental-hub CA");
    expect(info.fingerprint).toBe(ca.fingerprint);
    expect(info.serial).toBe(new X509Certificate(ca.certPem).serialNumber.toLowerCase());
  });

  it("refuses text that is not a certificate", () => {
    expect(() => certificateFingerprint("hello")).toThrow(CertificateError);
    expect(() => certificateFingerprint("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")).toThrow(
      expect.objectContaining({ code: "invalid_certificate" }),
    );
  });
});
