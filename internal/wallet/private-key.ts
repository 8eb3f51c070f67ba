import { OwnerOnlyFileError, readOwnerOnlyFile } from "../util/owner-only-file.js";
import { AppError } from "../errors/app-error.js";
import { KeyWallet } from "./key-wallet.js";

export const PRIVATE_KEY_ENV = "NODE_DAEMON_PRIVATE_KEY";

export class PrivateKeyError extends AppError {
  readonly code = "private_key";
  override readonly shownToUser = true;
  override readonly name = "PrivateKeyError";
}

export interface PrivateKeySources {
  file?: string;
  /** The key itself: from -private-key (visible to every user through `ps`), $NODE_DAEMON_PRIVATE_KEY, or the config file. */
  key?: { value: string; from: "flag" | "env" | "file" };
}

export interface LoadedWallet {
  /** Its address at hand; signing loads ethers then (the daemon signs only to sign in). */
  wallet: KeyWallet;
  source: "file" | "env" | "flag";
  warnings: string[];
}

/**
 * Loads the operator's Ethereum key, without loading ethers. Errors never echo the key (or any part of
 * it): a typo in a key is still a key.
 */
export async function loadWallet(src: PrivateKeySources): Promise<LoadedWallet> {
  if (src.file) return { wallet: keyWalletFromHex(await readKeyFile(src.file), `file ${src.file}`), source: "file", warnings: [] };
  const key = src.key;
  if (key?.from === "env") return { wallet: keyWalletFromHex(key.value, `$${PRIVATE_KEY_ENV}`), source: "env", warnings: [] };
  if (key?.from === "file") return { wallet: keyWalletFromHex(key.value, "private-key in the config file"), source: "file", warnings: [] };
  if (key) {
    return {
      wallet: keyWalletFromHex(key.value, "-private-key"),
      source: "flag",
      warnings: [
        `-private-key puts the key on the command line, where any local user can read it with ps; use -private-key-file (mode 0600) or $${PRIVATE_KEY_ENV}`,
      ],
    };
  }
  throw new PrivateKeyError(
    `no wallet key: pass -private-key-file PATH (mode 0600), or set $${PRIVATE_KEY_ENV}, or private-key-file in the config file`,
  );
}

async function readKeyFile(path: string): Promise<string> {
  try {
    return await readOwnerOnlyFile(path);
  } catch (err) {
    if (!(err instanceof OwnerOnlyFileError)) throw err;
    const p = err.problem;
    throw new PrivateKeyError(p.kind === "loose" ? `private key file ${path} is readable by group or others (mode ${p.mode}); run: chmod 600 ${path}` : `cannot read private key file ${path}: ${p.code}`);
  }
}

/** The daemon's wallet from a hex key; errors name `where` and never echo the key. */
export function keyWalletFromHex(raw: string, where: string): KeyWallet {
  return fromHex(raw, where, (key) => new KeyWallet(key));
}

/** 64 hex digits (0x optional) made into a wallet by `make`, which throws for a key off the curve. */
export function fromHex<W>(raw: string, where: string, make: (key: string) => W): W {
  const hex = raw.trim().replace(/^0x/i, "");
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new PrivateKeyError(`${where} does not hold a private key: expected 64 hex digits, optionally prefixed with 0x`);
  }
  try {
    return make(`0x${hex}`);
  } catch {
    throw new PrivateKeyError(`${where} does not hold a valid secp256k1 private key`);
  }
}
