import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { holdPortRun, type HeldPorts } from "../../test/support/port-run.js";
import { SshGatewayError } from "./errors.js";
import { listenInRange, parsePortRange } from "./port-range.js";

describe("parsePortRange", () => {
  it.each([
    ["2200-2299", { first: 2200, last: 2299 }],
    [" 2200 - 2201 ", { first: 2200, last: 2201 }],
    ["2222", { first: 2222, last: 2222 }],
    ["1-65535", { first: 1, last: 65535 }],
  ])("parses %j", (text, want) => {
    expect(parsePortRange(text)).toEqual(want);
  });

  it.each(["", "abc", "2200-", "-2299", "2299-2200", "0-10", "2200-70000", "2200:2299", "2200-2299-2300"])("refuses %j", (text) => {
    expect(() => parsePortRange(text)).toThrow(SshGatewayError);
    expect(() => parsePortRange(text)).toThrow(/expected "FIRST-LAST"/);
  });
});

describe("listenInRange", () => {
  const HOST = "127.0.0.1";
  const servers: Server[] = [];
  const server = (): Server => {
    const s = createServer();
    servers.push(s);
    return s;
  };
  let held: HeldPorts | undefined;

  afterEach(async () => {
    await held?.releaseAll();
    await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  });

  it("skips ports in use, prefers the preferred port, and says when the range is exhausted", async () => {
    held = await holdPortRun(HOST, 3);
    const { first } = held;
    await held.release(first + 1);
    await held.release(first + 2);
    const range = { first, last: first + 2 };

    expect(await listenInRange(server(), HOST, range)).toBe(first + 1);
    expect(await listenInRange(server(), HOST, range)).toBe(first + 2);
    const err = await listenInRange(server(), HOST, range).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshGatewayError);
    expect((err as SshGatewayError).code).toBe("ports_exhausted");
    expect((err as Error).message).toContain(`${first}-${first + 2}`);
  });

  it("uses a free preferred port inside the range first", async () => {
    held = await holdPortRun(HOST, 4);
    const { first } = held;
    await held.releaseAll();
    expect(await listenInRange(server(), HOST, { first, last: first + 3 }, first + 2)).toBe(first + 2);
    // Outside the range it is ignored: the operator's firewall opens the range only.
    expect(await listenInRange(server(), HOST, { first, last: first + 3 }, 1)).toBe(first);
  });
});
