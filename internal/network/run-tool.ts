import { spawn } from "node:child_process";
import { access, constants } from "node:fs/promises";
import { delimiter, join } from "node:path";

/** A firewall tool that did not run, or said no; `message` carries its own words. */
export class ToolError extends Error {
  override readonly name = "ToolError";
}

/** How long one iptables call may take before it is killed (a held xtables lock, a stuck kernel). */
const TOOL_TIMEOUT_MS = 15_000;

/**
 * Runs `file args` with `input` on stdin; resolves with stdout, rejects with ToolError (its stderr)
 * on a non-zero exit, or with the signal's reason when `signal` aborts (the process is killed).
 */
export function runTool(file: string, args: string[], opts: { input?: string; signal?: AbortSignal } = {}): Promise<string> {
  const timeout = AbortSignal.timeout(TOOL_TIMEOUT_MS);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"], signal, env: { ...process.env, LC_ALL: "C" } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.stdin.on("error", () => undefined); // a tool that exits without reading: its exit code says why
    child.on("error", (e: NodeJS.ErrnoException) => {
      if (signal.aborted) return reject(opts.signal?.aborted ? opts.signal.reason : new ToolError(`${file} ${args.join(" ")}: no answer within ${TOOL_TIMEOUT_MS} ms`));
      reject(new ToolError(e.code === "ENOENT" ? `${file} not found` : `${file}: ${e.message}`));
    });
    child.on("close", (code) => {
      if (signal.aborted) return; // the error handler answered
      const stderr = Buffer.concat(err).toString("utf8").trim();
      if (code === 0) resolve(Buffer.concat(out).toString("utf8"));
      else reject(new ToolError(`${file} ${args.join(" ")}: ${stderr || `exit code ${code}`}`));
    });
    child.stdin.end(opts.input ?? "");
  });
}

/** The first executable `name` on PATH, then in /usr/sbin and /sbin (a service's PATH may lack them); undefined if none. */
export async function findTool(name: string, path = process.env.PATH ?? ""): Promise<string | undefined> {
  const dirs = [...path.split(delimiter).filter(Boolean), "/usr/sbin", "/sbin"];
  for (const dir of dirs) {
    const file = join(dir, name);
    if (await access(file, constants.X_OK).then(() => true, () => false)) return file;
  }
  return undefined;
}
