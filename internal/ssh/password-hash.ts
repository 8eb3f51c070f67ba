import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";

/**
 * Renter passwords as self-describing scrypt hashes: "scrypt$N$r$p$salt$hash" (salt and hash in
 * base64). Only the hash is ever stored or handed around; the parameters travel with it so they can
 * be raised later without breaking old hashes.
 */
const SCRYPT_PREFIX = "scrypt";
/** 32 MiB and ~50-150 ms per hash on one core: costly to guess, cheap enough per login. */
const DEFAULT_PARAMS = { N: 1 << 15, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Bounds for parameters read from a hash, so a crafted hash cannot make verify eat the machine. */
const MAX_SCRYPT_MEMORY_BYTES = 256 * 1024 * 1024;
const MAX_P = 16;
const MIN_SALT_BYTES = 8;
const KEY_BYTES_RANGE = [16, 64] as const;
/** Longer inputs are refused outright (hashing megabytes per attempt is a cheap DoS). */
export const MAX_PASSWORD_BYTES = 1024;

export async function hashPassword(password: string): Promise<string> {
  if (password.length === 0) throw new Error("refusing to hash an empty password");
  if (Buffer.byteLength(password, "utf8") > MAX_PASSWORD_BYTES) throw new Error(`password longer than ${MAX_PASSWORD_BYTES} bytes`);
  const { N, r, p } = DEFAULT_PARAMS;
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, KEY_BYTES, { N, r, p });
  return [SCRYPT_PREFIX, N, r, p, salt.toString("base64"), key.toString("base64")].join("$");
}

/**
 * True when `password` matches. A wrong password is false; a `hash` that is not one of ours throws
 * (a configuration error, not a failed login).
 */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const parsed = parsePasswordHash(hash);
  if (password.length === 0 || Buffer.byteLength(password, "utf8") > MAX_PASSWORD_BYTES) return false;
  const key = await derive(password, parsed.salt, parsed.key.length, parsed.params);
  return timingSafeEqual(key, parsed.key);
}

/** True when `hash` is a well-formed hash verifyPassword accepts. */
export function isPasswordHash(hash: string): boolean {
  try {
    parsePasswordHash(hash);
    return true;
  } catch {
    return false; // the thrown message is what the caller would show; here only yes/no is asked
  }
}

interface ParsedHash {
  params: { N: number; r: number; p: number };
  salt: Buffer;
  key: Buffer;
}

function parsePasswordHash(hash: string): ParsedHash {
  const parts = hash.split("$");
  const [prefix, n, r, p, salt, key] = parts;
  if (parts.length !== 6 || prefix !== SCRYPT_PREFIX || !n || !r || !p || !salt || !key) {
    throw new Error('password hash is not of the form "scrypt$N$r$p$salt$hash"');
  }
  const params = { N: positiveInt(n, "N"), r: positiveInt(r, "r"), p: positiveInt(p, "p") };
  if ((params.N & (params.N - 1)) !== 0 || params.N < 2) throw new Error("password hash: N must be a power of two");
  if (128 * params.N * params.r > MAX_SCRYPT_MEMORY_BYTES || params.p > MAX_P) throw new Error("password hash: scrypt parameters out of bounds");
  const saltBuf = base64(salt, "salt");
  const keyBuf = base64(key, "hash");
  if (saltBuf.length < MIN_SALT_BYTES) throw new Error("password hash: salt too short");
  if (keyBuf.length < KEY_BYTES_RANGE[0] || keyBuf.length > KEY_BYTES_RANGE[1]) throw new Error("password hash: hash length out of bounds");
  return { params, salt: saltBuf, key: keyBuf };
}

function positiveInt(s: string, what: string): number {
  if (!/^[1-9][0-9]{0,9}$/.test(s)) throw new Error(`password hash: ${what} is not a positive integer`);
  return Number(s);
}

function base64(s: string, what: string): Buffer {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(s)) throw new Error(`password hash: ${what} is not base64`);
  return Buffer.from(s, "base64");
}

function derive(password: string, salt: Buffer, keyLen: number, params: { N: number; r: number; p: number }): Promise<Buffer> {
  const opts: ScryptOptions = { ...params, maxmem: 2 * 128 * params.N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize("NFC"), salt, keyLen, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });
}
