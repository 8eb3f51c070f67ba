import { randomBytes } from "node:crypto";
import { computeAddress, getAddress, keccak256 as ethersKeccak256, SigningKey, Wallet } from "ethers";
import { describe, expect, it } from "vitest";
import { keccak256 } from "./keccak.js";
import { addressOfPrivateKey, checksumAddress, KeyWallet } from "./key-wallet.js";

const hex = (b: Uint8Array): string => `0x${Buffer.from(b).toString("hex")}`;
/** secp256k1's group order n. */
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const key32 = (v: bigint): Buffer => Buffer.from(v.toString(16).padStart(64, "0"), "hex");

describe("keccak256", () => {
  it("gives the published digests", () => {
    expect(hex(keccak256(new Uint8Array()))).toBe("0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    expect(hex(keccak256(Buffer.from("abc")))).toBe("0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
    expect(hex(keccak256(Buffer.from("The quick brown fox jumps over the lazy dog")))).toBe("0x4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15");
  });

  it("matches ethers at every length around the 136-byte block (padding in one byte, in two, in a new block)", () => {
    for (let len = 0; len <= 3 * 136 + 2; len++) {
      const data = randomBytes(len);
      expect(hex(keccak256(data)), `length ${len}`).toBe(ethersKeccak256(data));
    }
  });
});

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
