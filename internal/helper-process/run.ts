import { spawn } from "node:child_process";
import { dirname, join, relative, resolve } from "node:path";
import { text } from "node:stream/consumers";
import { fileURLToPath } from "node:url";
import { AppError } from "../errors/app-error.js";
import type { HelperReply } from "./serve.js";

/** A helper that did not answer, or answered with an error: the code is the helper's own where it sent one. */
export class HelperProcessError extends AppError {
  override readonly name = "HelperProcessError";

  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface HelperOptions {
  /** What the helper does, for messages ("the sign-in signer"). */
  what: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/**
 * Runs one request in a short-lived `node` child (a script built on serve.ts): `input` goes over its
 * stdin as JSON and the answer comes back on its stdout. The daemon hands work to helpers when the
 * libraries it needs would stay in the daemon's memory for good once loaded (siwe, ethers,
 * @peculiar/x509: bench/daemon-memory.ts). Secrets travel on stdin only, never in arguments or the
 * environment, which `ps` and /proc show; the child gets an empty environment.
 */
export async function runHelperProcess<O>(script: string, input: unknown, opts: HelperOptions): Promise<O> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const timeout = AbortSignal.timeout(timeoutMs);
  const child = spawn(process.execPath, [script], {
    stdio: ["pipe", "pipe", "pipe"],
    env: {},
    signal: opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout,
  });
  const exited = new Promise<number | null>((done, fail) => {
    child.once("error", fail);
    child.once("close", done);
  });
  child.stdin.on("error", () => {}); // a child that dies early: its exit says why
  child.stdin.end(JSON.stringify(input));
  let stdout: string, stderr: string, code: number | null;
  try {
    [stdout, stderr, code] = await Promise.all([text(child.stdout), text(child.stderr), exited]);
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason; // the caller gave up: its abort, as everywhere else
    if (timeout.aborted) throw new HelperProcessError("helper_failed", `${opts.what} did not answer within ${timeoutMs / 1000} s`);
    throw new HelperProcessError("helper_failed", `${opts.what} process failed: ${(err as Error).message}`);
  }
  const reply = parse<O>(stdout);
  if (reply && "result" in reply && code === 0) return reply.result;
  if (reply && "error" in reply) {
    const { code: failure, message } = reply.error;
    throw new HelperProcessError(failure, failure === "helper_failed" ? `${opts.what} ${message}` : message);
  }
  const why = stderr.trim().split("\n").find((l) => /Error\b/.test(l)) ?? "";
  throw new HelperProcessError("helper_failed", `${opts.what} process exited with code ${code}${why ? `: ${why}` : ""}`);
}

function parse<O>(stdout: string): HelperReply<O> | undefined {
  try {
    return JSON.parse(stdout) as HelperReply<O>;
  } catch {
    return undefined;
  }
}

/** The sources' root, or the build's when this runs built: this file is internal/helper-process/run.{ts,js} in both. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * A helper's script, `name` beside the module at `moduleUrl` in the build. Run from the TypeScript
 * sources (vitest), the build's copy: Node 20 cannot run TypeScript, and `npm test` builds first.
 */
export function helperScript(moduleUrl: string, name: string): string {
  const here = dirname(fileURLToPath(moduleUrl));
  return moduleUrl.endsWith(".ts") ? join(ROOT, "dist", relative(ROOT, here), name) : join(here, name);
}
