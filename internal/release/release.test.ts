import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ReleaseError } from "./errors.js";
import { canonicalManifestBytes, checkArchive, RELEASE_FORMAT, type ReleaseManifest, signRelease, verifyRelease } from "./manifest.js";
import { compareVersions } from "./semver.js";

const manifest: ReleaseManifest = { format: RELEASE_FORMAT, name: "gpu-node-daemon", version: "0.2.0", file: "gpu-node-daemon-0.2.0.tgz", sha256: "ab".repeat(32), size: 1234 };
const refusal = (f: () => unknown): ReleaseError => {
  try {
    f();
  } catch (err) {
    if (err instanceof ReleaseError) return err;
    throw err;
  }
  throw new Error("not refused");
};

describe("release signatures", () => {
  const key = generateKeyPairSync("ed25519");
  const other = generateKeyPairSync("ed25519");

  it("signs the canonical manifest bytes, whatever the key order of the object", () => {
    const reordered = { size: 1234, sha256: manifest.sha256, file: manifest.file, version: "0.2.0", name: manifest.name, format: RELEASE_FORMAT } as ReleaseManifest;
    expect(canonicalManifestBytes(reordered).equals(canonicalManifestBytes(manifest))).toBe(true);
    const signed = signRelease(reordered, key.privateKey);
    expect(verifyRelease({ ...signed, manifest }, key.publicKey)).toEqual(manifest);
  });

  it("refuses another key's signature, naming both key ids", () => {
    const err = refusal(() => verifyRelease(signRelease(manifest, other.privateKey), key.publicKey));
    expect(err.code).toBe("bad_signature");
    expect(err.message).toMatch(/signed by release key ed25519:[0-9a-f]{16}, and this node trusts only ed25519:[0-9a-f]{16}/);
  });

  it("refuses a signature moved to another version or archive", () => {
    const signed = signRelease(manifest, key.privateKey);
    for (const changed of [{ version: "0.3.0" }, { sha256: "cd".repeat(32) }, { size: 1 }]) {
      expect(refusal(() => verifyRelease({ ...signed, manifest: { ...manifest, ...changed } }, key.publicKey)).code).toBe("bad_signature");
    }
  });

  it("refuses an archive whose bytes are not the signed ones", () => {
    expect(() => checkArchive(manifest, { sha256: manifest.sha256, size: 1234 })).not.toThrow();
    expect(refusal(() => checkArchive(manifest, { sha256: "00".repeat(32), size: 1234 })).code).toBe("tampered");
  });
});

describe("compareVersions", () => {
  it.each([
    ["0.1.0", "0.2.0", -1],
    ["0.10.0", "0.9.9", 1],
    ["1.0.0", "1.0.0", 0],
    ["1.0.0-rc.1", "1.0.0", -1],
    ["1.0.0-rc.2", "1.0.0-rc.10", -1],
    ["1.0.0-alpha", "1.0.0-alpha.1", -1],
    ["1.0.0-1", "1.0.0-alpha", -1],
    ["1.0.0+build.2", "1.0.0+build.1", 0],
  ])("%s vs %s", (a, b, want) => {
    expect(compareVersions(a, b)).toBe(want);
    expect(compareVersions(b, a)).toBe(-want || 0);
  });

  it("refuses what is not a version", () => {
    expect(() => compareVersions("latest", "1.0.0")).toThrow(/not a version/);
  });
});
