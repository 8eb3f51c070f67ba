import { randomBytes } from "node:crypto";
import { computeAddress, getAddress, SigningKey, verifyMessage, Wallet } from "ethers";
import { describe, expect, it } from "vitest";
import { SignInRequestError, type SignInFields } from "../auth/sign-in-request.js";
import { createSignIn } from "../auth/siwe-signer.js";
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

  it("never shows the key: not in JSON, not in util.inspect", async () => {
    const { inspect } = await import("node:util");
    const key = Wallet.createRandom().privateKey;
    const wallet = new KeyWallet(key);
    expect(JSON.stringify(wallet)).not.toContain(key.slice(2, 20));
    expect(inspect(wallet, { showHidden: true, depth: 5 })).not.toContain(key.slice(2, 20));
  });
});

describe("the daemon's sign-in, in a helper process", () => {
  const FIELDS: SignInFields = {
    domain: "hub.example:8443",
    uri: "https://hub.example:8443",
    chainId: 8453,
    nonce: "0123456789abcdef0123456789abcdef",
    statement: "Register this machine as a GPU node with the rental hub.",
    issuedAtMs: Date.parse("2030-01-01T00:00:00.000Z"),
  };

  it("gives the message and signature ethers' Wallet gives in this process, which recover to the address", async () => {
    const ethersWallet = Wallet.createRandom();
    const ours = new KeyWallet(ethersWallet.privateKey);
    expect(ours.address).toBe(ethersWallet.address);
    expect(await ours.getAddress()).toBe(ethersWallet.address);
    const signed = await ours.signIn(FIELDS);
    expect(signed).toEqual(await createSignIn({ ...FIELDS, signer: ethersWallet }));
    expect(verifyMessage(signed.message, signed.signature)).toBe(ethersWallet.address);
  });

  it("passes the signer's refusal on with its code and message", async () => {
    const err = await new KeyWallet(Wallet.createRandom().privateKey).signIn({ ...FIELDS, nonce: "short" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SignInRequestError);
    expect(err).toMatchObject({ code: "message_invalid", message: expect.stringMatching(/^cannot build the sign-in message: .*nonce/i) as unknown });
  });

  it("stops the helper when the caller gives up", async () => {
    const abort = new AbortController();
    const signing = new KeyWallet(Wallet.createRandom().privateKey).signIn(FIELDS, abort.signal);
    abort.abort();
    await expect(signing).rejects.toMatchObject({ name: "AbortError" });
  });
});
