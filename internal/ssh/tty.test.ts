import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { LOGIN_SHELL, PidLine, USER_HOME, ttyCommand } from "./tty.js";

async function through(chunks: string[]): Promise<{ out: string; pid: number | undefined }> {
  const p = new PidLine();
  const out = text(Readable.from(chunks.map((c) => Buffer.from(c))).pipe(p));
  return { out: await out, pid: await p.pid };
}

describe("PidLine", () => {
  it("takes the PID line off the front, even split across chunks", async () => {
    expect(await through(["gpunode-pid:42\r\n/ # "])).toEqual({ out: "/ # ", pid: 42 });
    expect(await through(["gpunode-", "pid:7", "\r", "\nhello"])).toEqual({ out: "hello", pid: 7 });
  });

  it("passes anything else through untouched", async () => {
    expect(await through(["sh: no such file\r\n", "more"])).toEqual({ out: "sh: no such file\r\nmore", pid: undefined });
    expect(await through(["short"])).toEqual({ out: "short", pid: undefined });
    const long = "x".repeat(100);
    expect(await through([long, "\n"])).toEqual({ out: `${long}\n`, pid: undefined });
  });
});

describe("ttyCommand", () => {
  it("wraps the shell and commands, passing the command as an argument (never spliced)", () => {
    expect(ttyCommand({ type: "shell" }, { cols: 80, rows: 24 })).toEqual([
      "/bin/sh",
      "-c",
      `echo "gpunode-pid:$$"; ${USER_HOME}; stty rows "$1" cols "$2" 2>/dev/null; ${LOGIN_SHELL}; exec "$s" -l`,
      "gpunode-ssh",
      "24",
      "80",
    ]);
    const cmd = ttyCommand({ type: "exec", command: "echo '$1'; vim" }, undefined);
    expect(cmd[2]).toBe(`echo "gpunode-pid:$$"; ${USER_HOME}; exec /bin/sh -c "$3"`);
    expect(cmd.slice(3)).toEqual(["gpunode-ssh", "0", "0", "echo '$1'; vim"]);
  });
});
