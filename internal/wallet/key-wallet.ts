import { createECDH } from "node:crypto";
import { keccak_256 as keccak256 } from "@noble/hashes/sha3";
import type { SignedSignIn, SignInFields, SignInSigner } from "../auth/sign-in-request.js";
import { signInInChildProcess } from "./sign-in-process.js";

/**
 * The operator's wallet as the daemon holds it: the address, derived at once without ethers, and
 * sign-in, done by a short-lived child process. The daemon signs only to sign in to the hub (a first
 * start, an expired or refused certificate), and never loads ethers or siwe itself
 * (bench/daemon-memory.ts).
 */
export class KeyWallet implements SignInSigner {
  /** EIP-55 checksummed, as ethers' Wallet#address. */
  readonly address: string;
  readonly #privateKey: string;

  /** `privateKey`: 0x and 64 hex digits. Throws when it is not a valid secp256k1 key (0, or not below the curve order). */
  constructor(privateKey: string) {
    this.address = addressOfPrivateKey(Buffer.from(privateKey.replace(/^0x/i, ""), "hex"));
    this.#privateKey = privateKey;
  }

  async getAddress(): Promise<string> {
    return this.address;
  }

  /** The EIP-4361 message, built with siwe and signed (EIP-191) with ethers' Wallet, in a child process. */
  signIn(fields: SignInFields, signal?: AbortSignal): Promise<SignedSignIn> {
    return signInInChildProcess(this.#privateKey, fields, signal);
  }
}

/** The EIP-55 address of a 32-byte secp256k1 private key; throws for an invalid key, as ethers does. */
export function addressOfPrivateKey(privateKey: Uint8Array): string {
  const ecdh = createECDH("secp256k1");
  ecdh.setPrivateKey(privateKey); // refuses 0 and keys not below the curve order
  const publicKey = ecdh.getPublicKey(); // 0x04 || X || Y
  return checksumAddress(Buffer.from(keccak256(publicKey.subarray(1))).subarray(12).toString("hex"));
}

/** EIP-55: a hex letter is upper case where the matching nibble of keccak256(lower-case hex) is 8 or more. */
export function checksumAddress(hex40: string): string {
  const lower = hex40.toLowerCase();
  const hash = keccak256(Buffer.from(lower, "ascii"));
  let out = "0x";
  for (let i = 0; i < lower.length; i++) {
    const nibble = ((hash[i >> 1] ?? 0) >> (i % 2 === 0 ? 4 : 0)) & 0x0f;
    const ch = lower.charAt(i);
    out += nibble >= 8 ? ch.toUpperCase() : ch;
  }
  return out;
}
