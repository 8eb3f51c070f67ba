import { getAddress, hexlify, keccak256, randomBytes, toUtf8Bytes, Wallet } from "ethers";
import { SiweMessage } from "siwe";
import { describe, expect, it } from "vitest";
import { NonceStore } from "../../auth/nonce-store.js";
import { SiweVerifier } from "../../auth/siwe-verifier.js";

// The browser's own modules (plain JS, not compiled): loaded by URL so tsc does not type them.
interface SiweModule {
  checksumAddress(address: string): string;
  siweMessage(f: { domain: string; address: string; statement?: string; uri: string; chainId: number; nonce: string; issuedAt: string; expirationTime?: string }): string;
  utf8Hex(text: string): string;
}
const page = (await import(new URL("./static/siwe-message.js", import.meta.url).href)) as SiweModule;
const { keccak256: pageKeccak } = (await import(new URL("./static/keccak.js", import.meta.url).href)) as { keccak256(b: Uint8Array): Uint8Array };

/** The dashboard builds the sign-in message itself: it must be byte for byte what the hub's verifier parses. */
describe("the dashboard's EIP-4361 message", () => {
  it("hashes with Keccak-256 as ethers does, across the rate boundary", () => {
    for (const length of [0, 1, 40, 135, 136, 137, 272, 300]) {
      const bytes = randomBytes(length);
      expect(hexlify(pageKeccak(bytes))).toBe(keccak256(bytes));
    }
  });

  it("puts any address into EIP-55 checksum case", () => {
    for (let i = 0; i < 50; i++) {
      const address = Wallet.createRandom().address;
      expect(page.checksumAddress(address.toLowerCase())).toBe(getAddress(address));
      expect(page.checksumAddress(address.toUpperCase().replace("0X", "0x"))).toBe(address);
    }
    expect(() => page.checksumAddress("0x1234")).toThrow(/not an Ethereum address/);
  });

  it("writes the same text as siwe, and the hub's verifier accepts it signed by personal_sign", async () => {
    const wallet = Wallet.createRandom();
    const nonces = new NonceStore({ ttlMs: 60_000 });
    const policy = { domain: "hub.example:8080", uriOrigin: "https://hub.example:8080", chainId: 1 };
    const { nonce } = nonces.issue();
    const now = Date.now();
    const fields = { domain: policy.domain, statement: "Sign in to the GPU rental hub dashboard.", uri: policy.uriOrigin, chainId: 1, nonce, issuedAt: new Date(now).toISOString(), expirationTime: new Date(now + 60_000).toISOString() };
    const text = page.siweMessage({ ...fields, address: wallet.address.toLowerCase() });
    expect(text).toBe(new SiweMessage({ ...fields, address: wallet.address, version: "1" }).prepareMessage());
    expect(page.utf8Hex(text)).toBe(hexlify(toUtf8Bytes(text)));

    const signature = await wallet.signMessage(toUtf8Bytes(text)); // what personal_sign signs: the message's bytes
    const signedIn = await new SiweVerifier(policy, { nonces }).verify(text, signature);
    expect(signedIn.address).toBe(wallet.address);
  });
});
