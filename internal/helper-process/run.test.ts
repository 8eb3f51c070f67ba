import { describe, expect, it } from "vitest";
import { HelperProcessError, helperScript, runHelperProcess } from "./run.js";

const CSR_HELPER = helperScript(new URL("../certs/csr-process.ts", import.meta.url).href, "csr-child.js");

describe("a helper process", () => {
  it("that takes too long is stopped, and the error says for how long it was given", async () => {
    const err = await runHelperProcess(CSR_HELPER, { commonName: "gpu-node" }, { what: "the CSR maker", timeoutMs: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HelperProcessError);
    expect(err).toMatchObject({ code: "helper_failed", message: "the CSR maker did not answer within 0.001 s" });
  });

  it("that cannot start says why, from its own stderr", async () => {
    const err = await runHelperProcess("/nonexistent/helper.js", {}, { what: "the missing helper" }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "helper_failed", message: expect.stringMatching(/^the missing helper process exited with code 1: Error: Cannot find module/) as unknown });
  });

  it("that fails on its input answers with a message that does not quote the input", async () => {
    const secret = `0x${"ab".repeat(32)}`;
    const err = await runHelperProcess(CSR_HELPER, { commonName: { not: "a string", secret } }, { what: "the CSR maker" }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "helper_failed" });
    expect((err as Error).message).toMatch(/^the CSR maker failed with a \w+$/);
    expect((err as Error).message).not.toContain("ab".repeat(8));
  });
});
