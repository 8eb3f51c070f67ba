import { readFileSync } from "node:fs";
import { join } from "node:path";
import { openApi } from "../../hubapi/hub.js";
import { packageFile } from "../dashboard/package-files.js";
import type { Router } from "./router.js";

/** The OpenAPI 3.1 document, generated from internal/hubapi by cmd/openapi-doc and committed; a test fails when it is stale. */
export function openApiDocumentPath(): string {
  return packageFile(import.meta.url, join("internal", "hub", "http", "openapi.json"));
}

/** GET /v1/openapi.json. The document is read and parsed once, at start. */
export function addOpenApiRoute(router: Router, documentText = readFileSync(openApiDocumentPath(), "utf8")): void {
  const document = JSON.parse(documentText) as Record<string, unknown>;
  router.on(openApi, async () => document);
}
