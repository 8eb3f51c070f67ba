// Writes internal/hub/http/openapi.json from the hub's route declarations (internal/hubapi):
//   npx tsc -p tsconfig.json && node dist/cmd/openapi-doc/main.js
// The file is committed; the hub serves it at GET /v1/openapi.json and a test fails when it is stale.
import { readFile, writeFile } from "node:fs/promises";
import { openApiDocumentPath } from "../../internal/hub/http/openapi-routes.js";
import { openApiDocumentText } from "../../internal/hubapi/openapi.js";

const target = openApiDocumentPath();
const before = await readFile(target, "utf8").catch(() => "");
const after = openApiDocumentText();
if (after !== before) await writeFile(target, after);
process.stdout.write(after === before ? `${target}: already current\n` : `${target}: written\n`);
