import { createECDH } from "node:crypto";
import { createRequire } from "node:module";
import { keccak_256 as keccak256 } from "@noble/hashes/sha3";

/**
 * The operator's wallet as the daemon holds it: the address, derived at once, and EIP-191
 * signing, which loads ethers on first use. The daemon signs only to sign in to the hub (a first
 * start, an expired or refused certificate), so a daemon that holds a valid certificate never
 * loads ethers or siwe (bench/daemon-memory.ts).
 */
export class KeyWallet {
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

  /** EIP-191 personal_sign, by ethers' Wallet. */
  async signMessage(message: string | Uint8Array): Promise<string> {
    const { Wallet } = ethersCommonJs();
    return new Wallet(this.#privateKey).signMessage(message);
  }
}

/**
 * ethers' CommonJS build: the copy siwe (a CommonJS package) loads for the sign-in message, so
 * that a sign-in brings one ethers into memory, not its ESM and its CommonJS build side by side.
 */
function ethersCommonJs(): typeof import("ethers") {
  return createRequire(import.meta.url)("ethers") as typeof import("ethers");
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
