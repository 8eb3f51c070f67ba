// The README's first command: `npm start` runs the built local stack (cmd/local-stack). Run here as
// the same compiled program, in a scratch folder, the way a new user would see it on a terminal.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { DIST } from "../support/program.js";
import { getJson, tempDir } from "../support/stack.js";

describe("npm start (the local stack)", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    dir = await tempDir("local-stack");
  });
  afterAll(async () => {
    await dir.remove();
  });

  /**
   * The compiled local stack as a user runs it, with its output as lines a test can wait for. When the
   * test ends however it ends (a timeout too) and the stack still runs, it gets the user's Ctrl-C,
   * which stops its daemon, hub and chain (each in a process group of its own), then its own group is
   * killed.
   */
  function runStack(args: string[] = []) {
    const child = spawn(process.execPath, [`${DIST}cmd/local-stack/main.js`, ...args], { cwd: dir.path, stdio: ["ignore", "pipe", "pipe"], detached: true });
    onTestFinished(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGINT");
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 30_000).unref())]);
      }
      try {
        process.kill(-(child.pid ?? 0), "SIGKILL");
      } catch {
        // the group is gone: the stack stopped everything itself
      }
    });
    const lines: string[] = [];
    const waiters: { re: RegExp; resolve: (line: string) => void }[] = [];
    const onLine = (line: string): void => {
      lines.push(line);
      for (const w of waiters.splice(0)) (w.re.test(line) ? w.resolve(line) : waiters.push(w));
    };
    for (const s of [child.stdout, child.stderr]) createInterface({ input: s }).on("line", onLine);
    const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
    const seen = (re: RegExp): Promise<string> => {
      const already = lines.find((l) => re.test(l));
      if (already) return Promise.resolve(already);
      return Promise.race([
        new Promise<string>((resolve) => waiters.push({ re, resolve })),
        exited.then(([code]) => Promise.reject(new Error(`the local stack exited (${code}) before ${re}:\n${lines.join("\n")}`))),
      ]);
    };
    return { child, lines, exited, seen };
  }

  it("signs a dev wallet in, prints the certificate and heartbeats, and stops both on Ctrl-C", async () => {
    const { child, lines, exited, seen } = runStack();
    const wallet = /dev wallet (0x[0-9a-fA-F]{40})/.exec(await seen(/dev wallet 0x/))?.[1];
    expect(await seen(/CA fingerprint sha256:/)).toContain("[hub ]");
    expect(await seen(/signed in as 0x/)).toContain(`signed in as ${wallet}`);
    expect(await seen(/certificate valid until \d{4}-\d\d-\d\dT/)).toContain("[node]");
    await seen(/heartbeat #1 sent/);

    child.kill("SIGINT");
    const [code] = await exited;
    expect(code).toBe(0);
    expect(lines.at(-1)).toBe("stopped.");
    // The throwaway key is in a file of the stack's; it is never printed.
    expect(lines.join("\n")).not.toMatch(/0x[0-9a-fA-F]{64}/);
  });

  it("with -chain: runs a local chain with the escrow, funds a renter, and the hub takes payments", async () => {
    const { child, lines, exited, seen } = runStack(["-chain"]);
    const renterLine = await seen(/renter wallet 0x[0-9a-fA-F]{40} holds 10000 test ether/);
    const hubUrl = /--hub-http (\S+)/.exec(renterLine)?.[1] ?? "";
    const escrow = /escrow (0x[0-9a-fA-F]{40})/.exec(await seen(/paid rentals on a local chain/))?.[1];
    await seen(/heartbeat #1 sent/);
    const chain = await getJson<{ payments: boolean; chainId: number; escrowAddress: string }>(`${hubUrl}/v1/chain`);
    expect(chain).toMatchObject({ payments: true, chainId: 31337, escrowAddress: escrow });

    child.kill("SIGINT");
    const [code] = await exited;
    expect(code).toBe(0);
    // Keys stay in their files: the operator's, the renter's and the provider's are never printed.
    expect(lines.join("\n")).not.toMatch(/0x[0-9a-fA-F]{64}/);
  });
});
