import { verifyMessage, Wallet } from "ethers";
import { SiweMessage } from "siwe";
import { describe, expect, it } from "vitest";
import { MAX_SIGN_IN_LIFETIME_MS, SignInRequestError } from "./sign-in-request.js";
import { createSignIn, type SignInRequest } from "./siwe-signer.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const wallet = new Wallet(Wallet.createRandom().privateKey);
const REQUEST: SignInRequest = {
  signer: wallet,
  domain: "hub.example:8080",
  uri: "https://hub.example:8080/v1/auth/sign-in",
  chainId: 8453,
  nonce: "0123456789abcdef0123456789abcdef",
  statement: "Sign in to the GPU rental hub.",
  issuedAtMs: T0,
};

describe("createSignIn", () => {
  it("builds an EIP-4361 message with a five-minute default lifetime and signs it", async () => {
    const { message, signature } = await createSignIn(REQUEST);
    const parsed = new SiweMessage(message);
    expect(parsed).toMatchObject({
      domain: REQUEST.domain,
      address: wallet.address,
      uri: REQUEST.uri,
      chainId: REQUEST.chainId,
      nonce: REQUEST.nonce,
      statement: REQUEST.statement,
      issuedAt: new Date(T0).toISOString(),
      expirationTime: new Date(T0 + MAX_SIGN_IN_LIFETIME_MS).toISOString(),
    });
    expect(verifyMessage(message, signature)).toBe(wallet.address);
  });

  it("refuses a lifetime longer than five minutes", async () => {
    const err: unknown = await createSignIn({ ...REQUEST, expiresInMs: MAX_SIGN_IN_LIFETIME_MS + 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SignInRequestError);
    expect(err).toMatchObject({ code: "expiry_too_long" });
  });

  it("refuses a non-positive lifetime", async () => {
    await expect(createSignIn({ ...REQUEST, expiresInMs: 0 })).rejects.toMatchObject({ code: "expiry_invalid" });
  });

  it("refuses fields the grammar does not allow, before signing", async () => {
    await expect(createSignIn({ ...REQUEST, nonce: "short" })).rejects.toMatchObject({ code: "message_invalid" });
  });
});
