import { once } from "node:events";
import https from "node:https";
import { connect as tcpConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestHub, type TestHub } from "../../../test/support/test-hub.js";

/** Resolves with how long the socket stayed open; fails the test if the hub keeps it past `limitMs`. */
function closedWithin(socket: Socket, limitMs: number): Promise<number> {
  const start = performance.now();
  socket.resume(); // read whatever the hub says last (a 408), or its end never surfaces
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the hub kept the connection open for ${limitMs} ms`)), limitMs);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(performance.now() - start);
    });
  });
}

function post(t: TestHub, contentType: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(new URL("/v1/auth/verify", t.http.baseUrl), { method: "POST", ca: t.http.ca, headers: { "content-type": contentType } }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(JSON.stringify({ message: "x", signature: "0x" }));
  });
}

/** Raw clients against the hub's HTTPS port: slow headers, idle keep-alives, a flood from one address, odd media types. */
describe("the hub's HTTP connections", () => {
  let t: TestHub;

  beforeAll(async () => {
    t = await startTestHub({ connectionLimits: { headersTimeoutMs: 1_000, keepAliveTimeoutMs: 1_000, perAddress: 4 } });
  });
  afterAll(() => t?.close());

  const tls = async () => {
    const socket = tlsConnect({ host: "127.0.0.1", port: t.hub.info.httpPort, ca: t.http.ca, servername: "localhost" });
    await once(socket, "secureConnect");
    return socket;
  };

  it("closes a connection whose headers never finish (slowloris), and an idle keep-alive one", async () => {
    const slow = await tls();
    slow.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: 1");
    expect(await closedWithin(slow, 5_000)).toBeGreaterThanOrEqual(900);

    const idle = await tls();
    idle.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
    await once(idle, "data");
    expect(await closedWithin(idle, 5_000)).toBeGreaterThanOrEqual(900);
  });

  it("caps the connections one address holds open", async () => {
    const held = await Promise.all([1, 2, 3, 4].map(async () => {
      const s = tcpConnect(t.hub.info.httpPort, "127.0.0.1");
      await once(s, "connect");
      return s;
    }));
    const extra = tcpConnect(t.hub.info.httpPort, "127.0.0.1");
    expect(await closedWithin(extra, 2_000)).toBeLessThan(2_000);
    // One of the four goes: there is room again.
    held[0]?.destroy();
    await once(held[0]!, "close");
    const again = await tls();
    again.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    const [chunk] = (await once(again, "data")) as [Buffer];
    expect(chunk.toString()).toMatch(/^HTTP\/1\.1 200/);
    for (const s of held) s.destroy();
  });

  it("compares media types case-insensitively and answers 415 with the accepted type", async () => {
    for (const type of ["APPLICATION/JSON", "application/json; charset=UTF-8"]) {
      const res = await post(t, type);
      expect(res.status, type).not.toBe(415);
    }
    for (const type of ["application/jsonp", "text/plain", "application/json-patch+json"]) {
      const res = await post(t, type);
      expect(res.status, type).toBe(415);
      expect(res.headers["accept-post"]).toBe("application/json");
      expect(JSON.parse(res.body)).toMatchObject({ error: { code: "unsupported_media_type", message: expect.stringContaining("application/json") } });
    }
  });
});
