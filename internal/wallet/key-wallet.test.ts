import { randomBytes } from "node:crypto";
import { computeAddress, getAddress, SigningKey, Wallet } from "ethers";
import { describe, expect, it } from "vitest";
import { addressOfPrivateKey, checksumAddress, KeyWallet } from "./key-wallet.js";

const hex = (b: Uint8Array): string => `0x${Buffer.from(b).toString("hex")}`;
/** secp256k1's group order n. */
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const key32 = (v: bigint): Buffer => Buffer.from(v.toString(16).padStart(64, "0"), "hex");

describe("the wallet address without ethers", () => {
  it("is ethers' address for random keys", () => {
    for (let i = 0; i < 200; i++) {
      const key = randomBytes(32);
      expect(addressOfPrivateKey(key)).toBe(computeAddress(new SigningKey(hex(key))));
    }
  });

  it("is ethers' address at the edges of the key range, and refuses what ethers refuses", () => {
    for (const v of [1n, 2n, N - 1n, 1n << 255n]) expect(addressOfPrivateKey(key32(v))).toBe(new Wallet(hex(key32(v))).address);
    for (const v of [0n, N, N + 1n, (1n << 256n) - 1n]) {
      expect(() => new Wallet(hex(key32(v))), `ethers, ${v}`).toThrow();
      expect(() => addressOfPrivateKey(key32(v)), `ours, ${v}`).toThrow();
    }
  });

  it("checksums as EIP-55 (ethers' getAddress)", () => {
    for (let i = 0; i < 200; i++) {
      const lower = randomBytes(20).toString("hex");
      expect(checksumAddress(lower)).toBe(getAddress(`0x${lower}`));
    }
    // EIP-55's own examples
    for (const a of ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"]) {
      expect(checksumAddress(a.slice(2))).toBe(a);
    }
  });

  it("signs (EIP-191) exactly as ethers' Wallet: same signature, which recovers to the address", async () => {
    const ethersWallet = Wallet.createRandom();
    const ours = new KeyWallet(ethersWallet.privateKey);
    expect(ours.address).toBe(ethersWallet.address);
    expect(await ours.getAddress()).toBe(ethersWallet.address);
    const message = "Register this machine as a GPU node with the rental hub.";
    expect(await ours.signMessage(message)).toBe(await ethersWallet.signMessage(message));
  });

  it("never shows the key: not in JSON, not in util.inspect", async () => {
    const { inspect } = await import("node:util");
    const key = Wallet.createRandom().privateKey;
    const wallet = new KeyWallet(key);
    expect(JSON.stringify(wallet)).not.toContain(key.slice(2, 20));
    expect(inspect(wallet, { showHidden: true, depth: 5 })).not.toContain(key.slice(2, 20));
  });
});
