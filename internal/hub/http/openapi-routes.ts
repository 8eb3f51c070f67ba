import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageFile } from "../dashboard/package-files.js";
import type { Router } from "./router.js";

/** The hand-written OpenAPI 3.1 document of every route; a test keeps it and the Router in step. */
export function openApiDocumentPath(): string {
  return packageFile(import.meta.url, join("internal", "hub", "http", "openapi.json"));
}

/** GET /v1/openapi.json. The document is read and parsed once, at start. */
export function addOpenApiRoute(router: Router, documentText = readFileSync(openApiDocumentPath(), "utf8")): void {
  const document: unknown = JSON.parse(documentText);
  router.on("GET", "/v1/openapi.json", async () => document);
}
