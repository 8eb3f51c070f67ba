import { password as askPassword } from "@inquirer/prompts";
import { type BaseWallet, Wallet } from "ethers";
import { walletFromHex } from "../wallet/ethers-wallet.js";
import { OwnerOnlyFileError, readOwnerOnlyFile } from "../util/owner-only-file.js";
import { CliError, usageError } from "./cli-error.js";

export const KEY_ENV = "GPU_RENT_PRIVATE_KEY";
export const KEYSTORE_PASSWORD_ENV = "GPU_RENT_KEYSTORE_PASSWORD";

export interface WalletOptions {
  keyFile?: string;
  keystore?: string;
}

/**
 * The renter's wallet: a key in a 0600 file, in $GPU_RENT_PRIVATE_KEY, or an ethers encrypted JSON
 * keystore whose password is asked on the terminal (or read from $GPU_RENT_KEYSTORE_PASSWORD).
 */
export async function loadRenterWallet(o: WalletOptions, env: NodeJS.ProcessEnv = process.env): Promise<BaseWallet> {
  if (o.keyFile && o.keystore) throw usageError("give --key-file or --keystore, not both");
  if (o.keyFile) return walletFromHex(await ownerOnly(o.keyFile, "key file"), `key file ${o.keyFile}`);
  if (o.keystore) {
    const json = await ownerOnly(o.keystore, "keystore");
    const pw = env[KEYSTORE_PASSWORD_ENV] ?? (process.stdin.isTTY ? await askPassword({ message: `password for ${o.keystore}`, mask: true }) : undefined);
    if (pw === undefined) throw usageError(`the keystore needs its password: run on a terminal, or set $${KEYSTORE_PASSWORD_ENV}`);
    try {
      const w = await Wallet.fromEncryptedJson(json, pw);
      return new Wallet(w.privateKey);
    } catch {
      throw new CliError("keystore_refused", `${o.keystore}: wrong password, or not an encrypted JSON keystore`);
    }
  }
  const fromEnv = env[KEY_ENV];
  if (fromEnv) return walletFromHex(fromEnv, `$${KEY_ENV}`);
  throw usageError(`no wallet: pass --key-file PATH (mode 0600) or --keystore FILE, or set $${KEY_ENV}`);
}

async function ownerOnly(path: string, what: string): Promise<string> {
  try {
    return await readOwnerOnlyFile(path);
  } catch (err) {
    if (!(err instanceof OwnerOnlyFileError)) throw err;
    const p = err.problem;
    throw new CliError("wallet_unreadable", p.kind === "loose" ? `${what} ${path} is readable by group or others (mode ${p.mode}); run: chmod 600 ${path}` : `cannot read ${what} ${path}: ${p.code}`);
  }
}
