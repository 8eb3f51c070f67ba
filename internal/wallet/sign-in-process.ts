import { spawn } from "node:child_process";
import { dirname, join, relative, resolve } from "node:path";
import { text } from "node:stream/consumers";
import { fileURLToPath } from "node:url";
import { SignInRequestError, type SignedSignIn, type SignInFields, type SignInRequestErrorCode } from "../auth/sign-in-request.js";
import type { SignInChildInput, SignInChildOutput } from "./sign-in-child.js";

/** Building and signing the message takes well under a second; loading Node and ethers a little more. */
const SIGN_IN_TIMEOUT_MS = 30_000;

/**
 * Builds and signs a sign-in message in a short-lived child process (sign-in-child.ts), so the
 * daemon never loads siwe and ethers: V8 would keep their ~5-9 MiB for the daemon's lifetime
 * (bench/daemon-memory.ts). The key goes over the child's stdin, never its arguments or
 * environment, which `ps` and /proc show; the child gets an empty environment.
 */
export async function signInInChildProcess(privateKey: string, fields: SignInFields, signal?: AbortSignal): Promise<SignedSignIn> {
  const timeout = AbortSignal.timeout(SIGN_IN_TIMEOUT_MS);
  const child = spawn(process.execPath, [childScript()], {
    stdio: ["pipe", "pipe", "pipe"],
    env: {},
    signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
  });
  const exited = new Promise<number | null>((done, fail) => {
    child.once("error", fail);
    child.once("close", done);
  });
  const input: SignInChildInput = { privateKey, fields: { ...fields, issuedAtMs: fields.issuedAtMs ?? Date.now() } };
  child.stdin.on("error", () => {}); // a child that dies early: its exit says why
  child.stdin.end(JSON.stringify(input));
  let stdout: string, stderr: string, code: number | null;
  try {
    [stdout, stderr, code] = await Promise.all([text(child.stdout), text(child.stderr), exited]);
  } catch (err) {
    throw new SignInRequestError("signer_failed", `the sign-in signer process failed: ${(err as Error).message}`);
  }
  const out = parse(stdout);
  if (out && "signature" in out && code === 0) return out;
  if (out && "error" in out) throw new SignInRequestError(out.error.code as SignInRequestErrorCode, out.error.message);
  const why = stderr.trim().split("\n").at(-1) ?? "";
  throw new SignInRequestError("signer_failed", `the sign-in signer process exited with code ${code}${why ? `: ${why}` : ""}`);
}

function parse(stdout: string): SignInChildOutput | undefined {
  try {
    return JSON.parse(stdout) as SignInChildOutput;
  } catch {
    return undefined;
  }
}

/**
 * The child's script, beside this module in the build. Run from the TypeScript sources (vitest),
 * the build's copy: Node 20 cannot run TypeScript, and `npm test` builds first.
 */
function childScript(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  if (!import.meta.url.endsWith(".ts")) return join(here, "sign-in-child.js");
  const root = resolve(here, "../..");
  return join(root, "dist", relative(root, here), "sign-in-child.js");
}
