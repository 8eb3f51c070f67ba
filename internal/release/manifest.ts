import { createHash, type KeyObject, sign, verify } from "node:crypto";
import { z } from "zod";
import { ReleaseError } from "./errors.js";
import { publicKeyId } from "./keys.js";

/** What a release's signature is over names this format: a signature over anything else does not verify as a release. */
export const RELEASE_FORMAT = "gpu-node-daemon-release/v1";

/**
 * A release as signed: the package's name and version and the archive's SHA-256 and size. The
 * signature covers all of them at once, so it cannot be moved to another version or archive.
 */
export const releaseManifestSchema = z.object({
  format: z.literal(RELEASE_FORMAT),
  name: z.string().min(1).max(214),
  version: z.string().min(1).max(64),
  /** The archive's file name as the hub stores it. */
  file: z.string().regex(/^[A-Za-z0-9._@-]+\.tgz$/),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().positive(),
});
export type ReleaseManifest = z.infer<typeof releaseManifestSchema>;

/** The manifest, the Ed25519 signature over its canonical bytes (base64) and the id of the key that made it. */
export const signedReleaseSchema = z.object({
  manifest: releaseManifestSchema,
  signature: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, "an Ed25519 signature in base64"),
  keyId: z.string(),
});
export type SignedRelease = z.infer<typeof signedReleaseSchema>;

/** The bytes that are signed: the fields in one fixed order, no spaces (JSON.stringify of a fresh object keeps insertion order). */
export function canonicalManifestBytes(m: ReleaseManifest): Buffer {
  return Buffer.from(JSON.stringify({ format: m.format, name: m.name, version: m.version, file: m.file, sha256: m.sha256, size: m.size }), "utf8");
}

export function signRelease(manifest: ReleaseManifest, privateKey: KeyObject): SignedRelease {
  const signature = sign(null, canonicalManifestBytes(manifest), privateKey).toString("base64");
  return { manifest, signature, keyId: publicKeyId(privateKey) };
}

/**
 * Throws ReleaseError("bad_signature") unless the signature verifies against `trusted`. The key id
 * a release names is only a hint for the message: what is checked is the signature itself.
 */
export function verifyRelease(signed: SignedRelease, trusted: KeyObject): ReleaseManifest {
  const ok = verify(null, canonicalManifestBytes(signed.manifest), trusted, Buffer.from(signed.signature, "base64"));
  if (ok) return signed.manifest;
  const trustedId = publicKeyId(trusted);
  const why =
    signed.keyId !== trustedId
      ? `it is signed by release key ${signed.keyId}, and this node trusts only ${trustedId} (-release-public-key-file)`
      : `its signature does not match its manifest (the manifest was changed after signing)`;
  throw new ReleaseError("bad_signature", `refusing release ${signed.manifest.version}: ${why}`);
}

/** Throws ReleaseError("tampered") unless the archive's bytes are the ones the (verified) manifest names. */
export function checkArchive(manifest: ReleaseManifest, archive: { sha256: string; size: number }): void {
  if (archive.sha256 === manifest.sha256 && archive.size === manifest.size) return;
  throw new ReleaseError(
    "tampered",
    `refusing release ${manifest.version}: the archive downloaded is not the one that was signed (SHA-256 ${archive.sha256.slice(0, 16)}…, ${archive.size} bytes; the signed manifest names ${manifest.sha256.slice(0, 16)}…, ${manifest.size} bytes)`,
  );
}

export function sha256Hex(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}
