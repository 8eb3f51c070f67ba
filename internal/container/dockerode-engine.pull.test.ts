// Pull behaviour that needs a registry (slow but steady, stalled, failing mid-stream) is played by
// a fake engine on a unix socket: no registry is reachable in CI.
import { createServer, type Server, type ServerResponse } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerodeEngine } from "./dockerode-engine.js";
import type { PullProgress } from "./engine.js";
import { ContainerError } from "./errors.js";

const TICK_MS = 50;
const dir = mkdtempSync(join(tmpdir(), "fake-engine-"));
const socketPath = join(dir, "docker.sock");
let server: Server;

function send(res: ServerResponse, lines: object[], thenEnd: boolean): void {
  let i = 0;
  const timer = setInterval(() => {
    const line = lines[i++];
    if (line) return void res.write(`${JSON.stringify(line)}\r\n`);
    clearInterval(timer);
    if (thenEnd) res.end(); // otherwise: go quiet, keep the connection open
  }, TICK_MS);
  res.on("close", () => clearInterval(timer));
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const image = new URL(req.url ?? "/", "http://x").searchParams.get("fromImage");
    res.writeHead(200, { "Content-Type": "application/json" });
    const progress = (n: number): object => ({ status: "Downloading", id: "abc", progressDetail: { current: n * 100, total: 1000 } });
    const steady = Array.from({ length: 10 }, (_, n) => progress(n));
    if (image === "steady") send(res, [...steady, { status: "Status: Downloaded newer image for steady:latest" }], true);
    else if (image === "stalls") send(res, steady.slice(0, 2), false);
    else send(res, [progress(1), { error: "unauthorized: authentication required", errorDetail: { message: "unauthorized: authentication required" } }], true);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe("DockerodeEngine.pullImage against a fake engine", () => {
  const engine = new DockerodeEngine({ socketPath });

  it("keeps going past the stall timeout while progress arrives", async () => {
    const seen: PullProgress[] = [];
    const started = Date.now();
    await engine.pullImage("steady", { stallTimeoutMs: 4 * TICK_MS, onProgress: (p) => seen.push(p) });
    expect(Date.now() - started).toBeGreaterThan(8 * TICK_MS); // longer than the stall timeout, in total
    expect(seen).toHaveLength(11);
    expect(seen[3]).toEqual({ status: "Downloading", layer: "abc", currentBytes: 300, totalBytes: 1000 });
  });

  it("abandons a pull that goes quiet", async () => {
    const err = await engine.pullImage("stalls", { stallTimeoutMs: 4 * TICK_MS }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContainerError);
    expect((err as ContainerError).code).toBe("pull_stalled");
  });

  it("reports an error the engine sends inside the stream", async () => {
    const err = await engine.pullImage("private/model", { stallTimeoutMs: 10 * TICK_MS }).catch((e: unknown) => e);
    expect((err as ContainerError).code).toBe("pull_failed");
    expect((err as ContainerError).message).toBe("pull private/model: unauthorized: authentication required");
  });

  it("stops when the caller aborts, with the caller's reason", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error("rental cancelled")), 2 * TICK_MS);
    await expect(engine.pullImage("stalls", { stallTimeoutMs: 60_000, signal: ac.signal })).rejects.toThrow("rental cancelled");
  });
});
