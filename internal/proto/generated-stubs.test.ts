import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const GENERATED = "internal/proto/gen/gpunode/v1/gpunode.ts";

describe("generated gRPC stubs", () => {
  it("match the .proto (run `npm run proto` after changing it)", async () => {
    const out = await mkdtemp(join(tmpdir(), "proto-"));
    try {
      await run("node_modules/.bin/buf", ["generate", "--output", out], { cwd: process.cwd() });
      const fresh = await readFile(join(out, GENERATED), "utf8");
      const committed = await readFile(GENERATED, "utf8");
      expect(committed === fresh, `${GENERATED} is stale: run npm run proto and commit the result`).toBe(true);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
