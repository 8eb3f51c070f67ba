import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { promisify } from "node:util";

/** The local registry test/setup/registry.sh runs (Debian's docker-registry). */
export const REGISTRY = `127.0.0.1:${process.env.REGISTRY_PORT ?? "5000"}`;
export const REGISTRY_PID_FILE = process.env.REGISTRY_PID_FILE ?? "/tmp/gpunode-registry.pid";

/** The registry's PID once it answers; a clear instruction when it does not. */
export async function requireRegistry(): Promise<number> {
  const fix = "run bash test/setup/registry.sh (after bash test/setup/docker-engine.sh)";
  try {
    const res = await fetch(`http://${REGISTRY}/v2/`, { signal: AbortSignal.timeout(3_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
  } catch (err) {
    throw new Error(`no image registry answers on http://${REGISTRY}/v2/ (${(err as Error).message}): ${fix}`);
  }
  let pid: number;
  try {
    pid = Number(readFileSync(REGISTRY_PID_FILE, "utf8").trim());
    process.kill(pid, 0);
  } catch (err) {
    throw new Error(`the registry's PID file ${REGISTRY_PID_FILE} names no live process (${(err as Error).message}): ${fix}`);
  }
  return pid;
}

/**
 * One registry test file at a time, across vitest's worker processes: the holder listens on an
 * abstract unix socket (gone with its process, so a crash leaves no stale lock); a waiter stays
 * connected to it until the holder lets go, then tries again.
 */
export async function lockRegistry(): Promise<() => void> {
  const name = `\0gpunode-registry-tests-${REGISTRY}`;
  for (;;) {
    const held = new Set<Socket>();
    const server = createServer((s) => {
      held.add(s);
      s.on("close", () => held.delete(s));
    });
    const got = await new Promise<boolean>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) => (err.code === "EADDRINUSE" ? resolve(false) : reject(err)));
      server.listen(name, () => resolve(true));
    });
    if (got) {
      return () => {
        server.close();
        for (const s of held) s.destroy();
      };
    }
    await new Promise<void>((resolve) => connect(name).on("close", () => resolve()).on("error", () => {}).resume());
  }
}

export async function removeImage(ref: string): Promise<void> {
  await promisify(execFile)("docker", ["image", "rm", "--force", ref]).catch((err: { stderr?: string }) => {
    if (!err.stderr?.includes("No such image")) throw err;
  });
}
