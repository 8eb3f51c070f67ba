import { isSignInRefusalCode, SignInRequestError, type SignedSignIn, type SignInFields } from "../auth/sign-in-request.js";
import { HelperProcessError, helperScript, runHelperProcess } from "../helper-process/run.js";
import type { SignInChildInput } from "./sign-in-child.js";

/**
 * Builds and signs a sign-in message in a helper process (sign-in-child.ts), so the daemon never
 * loads siwe and ethers: V8 would keep their ~5-9 MiB for the daemon's lifetime
 * (bench/daemon-memory.ts). The key goes over the helper's stdin (helper-process/run.ts).
 */
export async function signInInChildProcess(privateKey: string, fields: SignInFields, signal?: AbortSignal): Promise<SignedSignIn> {
  const input: SignInChildInput = { privateKey, fields: { ...fields, issuedAtMs: fields.issuedAtMs ?? Date.now() } };
  try {
    return await runHelperProcess<SignedSignIn>(helperScript(import.meta.url, "sign-in-child.js"), input, { what: "the sign-in signer", signal });
  } catch (err) {
    if (!(err instanceof HelperProcessError)) throw err;
    throw new SignInRequestError(isSignInRefusalCode(err.code) ? err.code : "signer_failed", err.message);
  }
}
