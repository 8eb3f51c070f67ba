import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { OwnerOnlyFileError, readOwnerOnlyFile } from "../util/owner-only-file.js";
import { ReleaseError } from "./errors.js";

/** The file names `rental-hub release keygen` writes. */
export const PRIVATE_KEY_FILE = "release.key";
export const PUBLIC_KEY_FILE = "release.pub";

/** A short, stable name of a release key: sha256 of its public key (SPKI DER), 16 hex digits. Safe to show. */
export function publicKeyId(key: KeyObject): string {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  return `ed25519:${createHash("sha256").update(pub.export({ type: "spki", format: "der" })).digest("hex").slice(0, 16)}`;
}

/**
 * A new Ed25519 release key pair in `dir`: release.key (PKCS#8 PEM, 0600; it signs releases: keep
 * it off the hub machine if you can) and release.pub (SPKI PEM: give it to every node). Never
 * overwrites an existing key.
 */
export async function generateReleaseKeys(dir: string): Promise<{ privateKeyFile: string; publicKeyFile: string; keyId: string }> {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const privateKeyFile = join(dir, PRIVATE_KEY_FILE);
  const publicKeyFile = join(dir, PUBLIC_KEY_FILE);
  try {
    await writeFile(privateKeyFile, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new ReleaseError("bad_key", `${privateKeyFile} exists: a release key is never overwritten (move it away first if you mean to replace it; nodes trust the old one until their -release-public-key-file changes)`);
    throw err;
  }
  await chmod(privateKeyFile, 0o600);
  await writeFile(publicKeyFile, publicKey.export({ type: "spki", format: "pem" }), { mode: 0o644 });
  return { privateKeyFile, publicKeyFile, keyId: publicKeyId(publicKey) };
}

/** The private release key from a PEM file readable by its owner only. Messages name the file, never its content. */
export async function readReleasePrivateKey(file: string): Promise<KeyObject> {
  let pem: string;
  try {
    pem = await readOwnerOnlyFile(file);
  } catch (err) {
    if (err instanceof OwnerOnlyFileError) throw new ReleaseError("bad_key", `release key ${file}: ${err.message}${err.problem.kind === "loose" ? `; run: chmod 600 ${file}` : ""}`);
    throw err;
  }
  return ed25519(() => createPrivateKey(pem), file, "a private Ed25519 key (PKCS#8 PEM, as rental-hub release keygen writes)");
}

/** The public release key a node trusts (SPKI PEM). */
export async function readReleasePublicKey(file: string): Promise<KeyObject> {
  let pem: string;
  try {
    pem = await readFile(file, "utf8");
  } catch (err) {
    throw new ReleaseError("bad_key", `release public key ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const key = ed25519(() => createPublicKey(pem), file, "a public Ed25519 key (SPKI PEM, release.pub from rental-hub release keygen)");
  if (key.type !== "public") throw new ReleaseError("bad_key", `${file} holds a private key: give nodes the public one (release.pub)`);
  return key;
}

function ed25519(load: () => KeyObject, file: string, wanted: string): KeyObject {
  let key: KeyObject;
  try {
    key = load();
  } catch {
    throw new ReleaseError("bad_key", `${file} is not ${wanted}`);
  }
  if (key.asymmetricKeyType !== "ed25519") throw new ReleaseError("bad_key", `${file} is a ${key.asymmetricKeyType ?? "unknown"} key, not ${wanted}`);
  return key;
}
