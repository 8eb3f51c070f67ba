import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { requestJson } from "../../httpclient/json-client.js";
import { openApiDocumentText } from "../../hubapi/openapi.js";
import type { Operation } from "../../hubapi/operation.js";
import { hubOperations } from "../../hubapi/operations.js";
import { startTestHub, type TestHub } from "../../../test/support/test-hub.js";
import { openApiDocumentPath } from "./openapi-routes.js";
import { Router } from "./router.js";

interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, unknown>>;
}

const HTTP_METHODS = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);
const REGENERATE = "npx tsc -p tsconfig.json && node dist/cmd/openapi-doc/main.js";

/** The committed document is generated from internal/hubapi, and the hub registers exactly the operations declared there. */
describe("openapi.json", () => {
  const text = readFileSync(openApiDocumentPath(), "utf8");
  const doc = JSON.parse(text) as OpenApiDocument;
  let t: TestHub;
  let registered: Operation[];

  beforeAll(async () => {
    // Every route the composition root registers, as it registers it: no list kept by hand here.
    const on = vi.spyOn(Router.prototype, "on");
    t = await startTestHub();
    registered = on.mock.calls.map(([op]) => op);
    on.mockRestore();
  });
  afterAll(() => t?.close());

  const key = (op: Pick<Operation, "method" | "path">): string => `${op.method} ${op.path}`;
  const documented = (): string[] =>
    Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).filter((k) => HTTP_METHODS.has(k)).map((m) => `${m.toUpperCase()} ${path}`));

  it("is OpenAPI 3.1", () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
  });

  it("is what internal/hubapi generates now", () => {
    // Compared as text so that the failure shows the first lines that differ.
    expect(text, `internal/hub/http/openapi.json is stale: regenerate it with \`${REGENERATE}\` and commit it`).toBe(openApiDocumentText());
  });

  it("declares every route the hub registers, each once, and the hub registers every declared operation", () => {
    expect(registered.length).toBeGreaterThan(15);
    expect(new Set(registered.map(key)).size).toBe(registered.length);
    expect(new Set(hubOperations.map((op) => op.operationId)).size).toBe(hubOperations.length);
    // The very objects of the table: a route declared in place, outside hubOperations, fails here.
    expect(registered.filter((op) => !hubOperations.includes(op)).map(key)).toEqual([]);
    expect(hubOperations.filter((op) => !registered.includes(op)).map(key)).toEqual([]);
    expect(documented().sort()).toEqual(registered.map(key).sort());
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
    expect(refs.length).toBeGreaterThan(20);
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
