import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { requestJson } from "../../httpclient/json-client.js";
import { operation } from "../../hubapi/operation.js";
import { captureLogs } from "../../../test/support/log-capture.js";
import { Router } from "./router.js";

const thing = z.object({ id: z.string(), public: z.string() });
const getThing = operation({
  method: "GET",
  path: "/things/{id}",
  operationId: "getThing",
  tags: ["hub"],
  summary: "a thing",
  security: "none",
  params: z.object({ id: z.string() }),
  query: z.object({ n: z.coerce.number().int().min(1, "must be at least 1").default(1) }),
  reply: { status: 200, description: "the thing", schema: thing },
});
const makeThing = operation({
  method: "POST",
  path: "/things",
  operationId: "makeThing",
  tags: ["hub"],
  summary: "makes a thing",
  security: "none",
  body: { schema: z.object({ name: z.string() }) },
  reply: { status: 202, description: "accepted", schema: thing },
});

/** The Router sends what a route's schema declares, with the status it declares, and nothing else. */
describe("Router", () => {
  const logs = captureLogs("info");
  let server: http.Server;
  let baseUrl: string;

  beforeAll(async () => {
    const router = new Router(logs.logger);
    // The handler's view carries a field its schema does not name (the type allows more, as views built by spreading do).
    const leaky = { id: "x", public: "shown", secret: "never sent" };
    router.on(getThing, async ({ params, query }) => (params.id === "broken" ? ({ id: 1 } as unknown as z.input<typeof thing>) : { ...leaky, id: `${params.id}:${query().n}` }));
    router.on(makeThing, async ({ body }) => ({ id: (await body()).name, public: "made" }));
    server = http.createServer(router.handle).listen(0, "127.0.0.1");
    await once(server, "listening");
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => server?.close());

  it("drops what the reply schema does not declare", async () => {
    expect(await requestJson({ baseUrl }, "GET", "/things/a?n=2")).toEqual({ id: "a:2", public: "shown" });
  });

  it("answers a reply that does not match its schema with a 500, and logs where it differs", async () => {
    await expect(requestJson({ baseUrl }, "GET", "/things/broken")).rejects.toMatchObject({ status: 500, code: "internal" });
    expect(await logs.waitFor((l) => l.msg.includes("does not match its declared schema"), "the mismatch in the log")).toMatchObject({ operation: "getThing" });
  });

  it("sends the status the operation declares, and refuses a query or body its schemas refuse with 400", async () => {
    expect(await requestJson({ baseUrl }, "POST", "/things", { body: { name: "b" } })).toEqual({ id: "b", public: "made" });
    await expect(requestJson({ baseUrl }, "GET", "/things/a?n=0")).rejects.toMatchObject({ status: 400, code: "invalid_request", message: expect.stringContaining("n: must be at least 1") });
    await expect(requestJson({ baseUrl }, "POST", "/things", { body: { nom: "b" } })).rejects.toMatchObject({ status: 400, code: "invalid_request" });
    const res = await fetch(`${baseUrl}/things`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"name":"c"}' });
    expect(res.status).toBe(202);
  });
});
