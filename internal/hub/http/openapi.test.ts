import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { requestJson } from "../../httpclient/json-client.js";
import { startTestHub, type TestHub } from "../../../test/support/test-hub.js";
import { openApiDocumentPath } from "./openapi-routes.js";
import { Router } from "./router.js";

interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, unknown>>;
}

const HTTP_METHODS = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);

/** The hand-written document and the hub's Router must list the same routes. */
describe("openapi.json", () => {
  const doc = JSON.parse(readFileSync(openApiDocumentPath(), "utf8")) as OpenApiDocument;
  let t: TestHub;
  let registered: string[];

  beforeAll(async () => {
    // Every route the composition root registers, as it registers it: no list kept by hand here.
    const on = vi.spyOn(Router.prototype, "on");
    t = await startTestHub();
    registered = on.mock.calls.map(([method, path]) => `${method.toUpperCase()} ${path.replace(/:([a-zA-Z]+)/g, "{$1}")}`);
    on.mockRestore();
  });
  afterAll(() => t?.close());

  const documented = (): string[] =>
    Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).filter((k) => HTTP_METHODS.has(k)).map((m) => `${m.toUpperCase()} ${path}`));

  it("is OpenAPI 3.1", () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
  });

  it("documents every route the hub registers, and nothing it does not", () => {
    expect(registered.length).toBeGreaterThan(15);
    expect(new Set(registered).size).toBe(registered.length);
    expect(documented().sort()).toEqual([...registered].sort());
  });

  it("names the same path parameters as the route, and every $ref resolves", () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const [method, op] of Object.entries(item)) {
        if (!HTTP_METHODS.has(method)) continue;
        const params = ((op as { parameters?: Array<{ $ref?: string; in?: string; name?: string }> }).parameters ?? []).map((p) => (p.$ref ? resolve(doc, p.$ref) : p) as { in?: string; name?: string });
        expect(params.filter((p) => p.in === "path").map((p) => p.name), `${method} ${path}`).toEqual(names);
      }
    }
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    for (const ref of refs) expect(resolve(doc, JSON.parse(`{${ref}}`).$ref as string), ref).toBeDefined();
  });

  it("is served at GET /v1/openapi.json", async () => {
    expect(await requestJson(t.http, "GET", "/v1/openapi.json")).toEqual(doc);
  });
});

function resolve(doc: unknown, ref: string): unknown {
  if (!ref.startsWith("#/")) return undefined;
  return ref
    .slice(2)
    .split("/")
    .reduce<unknown>((node, key) => (node && typeof node === "object" ? (node as Record<string, unknown>)[key] : undefined), doc);
}
