import type { IncomingHttpHeaders } from "node:http";
import https from "node:https";
import { type BaseWallet, Wallet } from "ethers";
import { SiweMessage } from "siwe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpError, requestJson } from "../../httpclient/json-client.js";
import { startTestHub, type TestHub } from "../../../test/support/test-hub.js";
import { defaultHubOptions } from "../options.js";
import { SESSION_COOKIE } from "../../hubapi/common.js";

/** Real HTTPS against a real hub: every refusal names the check that failed. */
describe("POST /v1/auth/verify", () => {
  let t: TestHub;
  const wallet = Wallet.createRandom();

  beforeAll(async () => {
    t = await startTestHub();
  });
  afterAll(() => t.close());

  /** POST /v1/auth/verify with its headers, which requestJson does not return. */
  const fetchVerify = (body: unknown): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> =>
    new Promise((resolve, reject) => {
      const req = https.request(new URL("/v1/auth/verify", t.http.baseUrl), { method: "POST", ca: t.http.ca, headers: { "content-type": "application/json" } }, (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      });
      req.on("error", reject);
      req.end(JSON.stringify(body));
    });

  const nonce = async (): Promise<string> => (await requestJson<{ nonce: string }>(t.http, "GET", "/v1/auth/nonce")).nonce;

  async function message(fields: Partial<ConstructorParameters<typeof SiweMessage>[0] & object> = {}): Promise<string> {
    const url = new URL(t.http.baseUrl);
    const now = Date.now();
    return new SiweMessage({
      domain: url.host,
      address: wallet.address,
      statement: "Register this machine as a GPU node with the rental hub.",
      uri: url.origin,
      version: "1",
      chainId: 1,
      nonce: await nonce(),
      issuedAt: new Date(now).toISOString(),
      expirationTime: new Date(now + 60_000).toISOString(),
      ...fields,
    }).prepareMessage();
  }

  async function refusal(text: string, signer: BaseWallet = wallet): Promise<{ status: number; code: string; message: string }> {
    const signature = await signer.signMessage(text);
    try {
      await requestJson(t.http, "POST", "/v1/auth/verify", { body: { message: text, signature } });
    } catch (err) {
      if (err instanceof HttpError) return { status: err.status, code: err.code, message: err.message };
      throw err;
    }
    throw new Error("the hub accepted a sign-in it should refuse");
  }

  it("accepts a correct sign-in and returns a token for the signing address", async () => {
    const text = await message();
    const res = await requestJson<{ token: string; address: string }>(t.http, "POST", "/v1/auth/verify", { body: { message: text, signature: await wallet.signMessage(text) } });
    expect(res.address).toBe(wallet.address);
    expect(res.token.length).toBeGreaterThanOrEqual(40);
  });

  it("gives a browser the session as a cookie scripts cannot read, sent only over HTTPS and not on cross-site posts", async () => {
    const text = await message();
    const res = await fetchVerify({ message: text, signature: await wallet.signMessage(text) });
    expect(res.status).toBe(200);
    const token = (JSON.parse(res.body) as { token: string }).token;
    const cookie = res.headers["set-cookie"] ?? [];
    expect(cookie).toHaveLength(1);
    const [pair, ...attributes] = (cookie[0] ?? "").split("; ");
    expect(pair).toBe(`${SESSION_COOKIE}=${token}`);
    expect(attributes.sort()).toEqual(["HttpOnly", `Max-Age=${Math.floor(defaultHubOptions.tokenTtlMs / 1000)}`, "Path=/", "SameSite=Lax", "Secure"]);
  });

  const hour = 3_600_000;
  const cases: Array<[string, () => Promise<string>, string, BaseWallet?]> = [
    ["an expired message", () => message({ issuedAt: new Date(Date.now() - 120_000).toISOString(), expirationTime: new Date(Date.now() - 60_000).toISOString() }), "expired"],
    ["a nonce the hub never issued", () => message({ nonce: "neverIssued12345" }), "nonce_unknown"],
    ["the wrong domain", () => message({ domain: "evil.example:8080" }), "domain_mismatch"],
    ["the wrong URI", () => message({ uri: "https://evil.example:8080" }), "uri_mismatch"],
    ["the wrong chain id", () => message({ chainId: 5 }), "chain_id_mismatch"],
    ["a message issued too long ago", () => message({ issuedAt: new Date(Date.now() - hour).toISOString(), expirationTime: new Date(Date.now() + hour).toISOString() }), "issued_too_long_ago"],
    ["a signature by another key", () => message(), "bad_signature", Wallet.createRandom()],
    ["malformed text", async () => "this is not an EIP-4361 message", "malformed"],
    ["an oversized statement", () => message({ statement: "x".repeat(8_000) }), "oversized"],
    ["a statement far over the limit", () => message({ statement: "x".repeat(20_000) }), "oversized"],
  ];

  it.each(cases)("refuses %s, saying why", async (_name, make, code, signer) => {
    const r = await refusal(await make(), signer ?? wallet);
    expect(r.code).toBe(code);
    expect(r.status).toBe(code === "malformed" || code === "oversized" ? 400 : 401);
    expect(r.message.length).toBeGreaterThan(20);
  });

  it("refuses a replayed nonce", async () => {
    const text = await message();
    const signature = await wallet.signMessage(text);
    await requestJson(t.http, "POST", "/v1/auth/verify", { body: { message: text, signature } });
    const r = await refusal(text);
    expect(r.code).toBe("nonce_replayed");
  });

  it("tells a wrong domain apart by naming what it expected", async () => {
    const r = await refusal(await message({ domain: "evil.example:8080" }));
    expect(r.message).toContain("evil.example:8080");
    expect(r.message).toContain(new URL(t.http.baseUrl).host);
  });

  it("limits sign-in attempts per wallet and per IP, saying when to come back", async () => {
    const limited = await startTestHub({ signInLimits: { perIp: { perMinute: 60, burst: 6 }, perAddress: { perMinute: 1, burst: 2 } } });
    try {
      const attempt = async (w: BaseWallet) => {
        const url = new URL(limited.http.baseUrl);
        const { nonce } = await requestJson<{ nonce: string }>(limited.http, "GET", "/v1/auth/nonce");
        const text = new SiweMessage({ domain: url.host, address: w.address, uri: url.origin, version: "1", chainId: 1, nonce, issuedAt: new Date().toISOString() }).prepareMessage();
        return requestJson(limited.http, "POST", "/v1/auth/verify", { body: { message: text, signature: await w.signMessage(text) } });
      };
      const one = Wallet.createRandom();
      await attempt(one);
      await attempt(one);
      await expect(attempt(one)).rejects.toMatchObject({ status: 429, code: "rate_limited", message: expect.stringMatching(/try again in \d+ s/) });
      // Another wallet from the same IP still gets in, until the IP's budget is spent.
      await expect(attempt(Wallet.createRandom())).rejects.toMatchObject({ status: 429 }); // 6 requests: 3 nonces + 3 verifies
    } finally {
      await limited.close();
    }
  });

  it("spends a wallet's sign-ins only on signatures it made: forged messages naming a provider cannot lock it out", async () => {
    const limited = await startTestHub({ signInLimits: { perIp: { perMinute: 6_000, burst: 1_000 }, perAddress: { perMinute: 1, burst: 2 } } });
    try {
      const url = new URL(limited.http.baseUrl);
      const signed = async (named: BaseWallet, signer: BaseWallet) => {
        const { nonce } = await requestJson<{ nonce: string }>(limited.http, "GET", "/v1/auth/nonce");
        const text = new SiweMessage({ domain: url.host, address: named.address, uri: url.origin, version: "1", chainId: 1, nonce, issuedAt: new Date().toISOString() }).prepareMessage();
        return requestJson<{ address: string }>(limited.http, "POST", "/v1/auth/verify", { body: { message: text, signature: await signer.signMessage(text) } });
      };
      const provider = Wallet.createRandom();
      const attacker = Wallet.createRandom();
      for (let i = 0; i < 5; i++) await expect(signed(provider, attacker)).rejects.toMatchObject({ status: 401, code: "bad_signature" });
      // The provider's own budget (2 at once) is untouched by the five forgeries.
      expect((await signed(provider, provider)).address).toBe(provider.address);
      expect((await signed(provider, provider)).address).toBe(provider.address);
      await expect(signed(provider, provider)).rejects.toMatchObject({ status: 429, code: "rate_limited" });
    } finally {
      await limited.close();
    }
  });

  it("counts per-IP limits against the client behind a trusted proxy, and ignores X-Forwarded-For from anyone else", async () => {
    const limits = { perIp: { perMinute: 1, burst: 2 }, perAddress: { perMinute: 6_000, burst: 1_000 } };
    const nonceFrom = (h: TestHub, forwardedFor: string) =>
      new Promise<number>((resolve, reject) => {
        https
          .get(new URL("/v1/auth/nonce", h.http.baseUrl), { ca: h.http.ca, headers: { "x-forwarded-for": forwardedFor } }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          })
          .on("error", reject);
      });
    const behindProxy = await startTestHub({ signInLimits: limits, trustedProxies: ["127.0.0.0/8"] });
    const direct = await startTestHub({ signInLimits: limits });
    try {
      // Two clients behind the proxy: each has its own budget of two.
      expect([await nonceFrom(behindProxy, "203.0.113.1"), await nonceFrom(behindProxy, "203.0.113.1"), await nonceFrom(behindProxy, "203.0.113.1")]).toEqual([200, 200, 429]);
      expect(await nonceFrom(behindProxy, "198.51.100.7, 203.0.113.9")).toBe(200);
      // A client that claims another address, with no trusted proxy in between, is still itself.
      expect([await nonceFrom(direct, "203.0.113.1"), await nonceFrom(direct, "203.0.113.2"), await nonceFrom(direct, "203.0.113.3")]).toEqual([200, 200, 429]);
    } finally {
      await Promise.all([behindProxy.close(), direct.close()]);
    }
  });

  it("builds the sign-in message for a browser wallet: any address case in, EIP-55 out, and the signed message signs in", async () => {
    const browser = Wallet.createRandom();
    const { message } = await requestJson<{ message: string }>(t.http, "GET", `/v1/auth/message?address=${browser.address.toLowerCase()}`);
    const parsed = new SiweMessage(message);
    expect(parsed).toMatchObject({ address: browser.address, domain: new URL(t.http.baseUrl).host, uri: new URL(t.http.baseUrl).origin, chainId: 1 });
    const res = await requestJson<{ address: string }>(t.http, "POST", "/v1/auth/verify", { body: { message, signature: await browser.signMessage(message) } });
    expect(res.address).toBe(browser.address);
    await expect(requestJson(t.http, "GET", "/v1/auth/message?address=0x123")).rejects.toMatchObject({ status: 400, code: "invalid_address" });
  });

  it("refuses a body that is not a sign-in request before it reaches the verifier", async () => {
    await expect(requestJson(t.http, "POST", "/v1/auth/verify", { body: { message: 42 } })).rejects.toMatchObject({ status: 400, code: "invalid_request" });
  });

  it("refuses registration without a token, with a bad token, and with a body that fails validation", async () => {
    const body = { csrPem: "x", info: {}, machineId: "0".repeat(64) };
    await expect(requestJson(t.http, "POST", "/v1/nodes/register", { body })).rejects.toMatchObject({ status: 401, code: "token_missing" });
    await expect(requestJson(t.http, "POST", "/v1/nodes/register", { body, bearer: "forged" })).rejects.toMatchObject({ status: 401, code: "token_unknown" });
    const text = await message();
    const { token } = await requestJson<{ token: string }>(t.http, "POST", "/v1/auth/verify", { body: { message: text, signature: await wallet.signMessage(text) } });
    await expect(requestJson(t.http, "POST", "/v1/nodes/register", { body, bearer: token })).rejects.toMatchObject({ status: 400, code: "invalid_request" });
    const nodes = await requestJson<{ nodes: unknown[] }>(t.http, "GET", "/v1/nodes");
    expect(nodes.nodes).toHaveLength(0);
  });
});
