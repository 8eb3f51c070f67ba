import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { DIST } from "../../test/support/program.js";

/** What a program under systemd writes to the journal: a syslog priority per line, level names in the JSON. */
describe("logs under journald", () => {
  const logWith = (env: NodeJS.ProcessEnv) =>
    promisify(execFile)(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import { createLogger } from ${JSON.stringify(`${DIST}internal/log/logger.js`)};
         const log = createLogger({ name: "t", level: "debug", pretty: false });
         log.debug("d"); log.info("i"); log.warn("w"); log.error({ token: "s3cret" }, "e"); log.fatal("f");`,
      ],
      { env: { PATH: process.env.PATH, ...env } },
    );

  it("prefixes each line with the syslog priority of its level when JOURNAL_STREAM is set, so journalctl -p works", async () => {
    const { stdout } = await logWith({ JOURNAL_STREAM: "8:12345" });
    const lines = stdout.trim().split("\n");
    expect(lines.map((l) => l.slice(0, 3))).toEqual(["<7>", "<6>", "<4>", "<3>", "<2>"]);
    expect(lines.map((l) => (JSON.parse(l.slice(3)) as { level: string }).level)).toEqual(["debug", "info", "warn", "error", "fatal"]);
    expect(stdout).not.toContain("s3cret");
  });

  it("writes plain JSON lines with numeric levels elsewhere", async () => {
    const { stdout } = await logWith({});
    // pino's default destination may write fatal (flushed at once) before the buffered lines.
    expect(stdout.trim().split("\n").map((l) => (JSON.parse(l) as { level: number }).level).sort()).toEqual([20, 30, 40, 50, 60]);
  });
});
