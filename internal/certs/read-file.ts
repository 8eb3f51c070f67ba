import { readFile, stat } from "node:fs/promises";
import { CertificateError } from "./errors.js";
import { isNotFound } from "./file-set.js";

/** The file's text, or undefined when it does not exist (any other failure throws). */
export async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** A private key others can read is refused rather than used: it may already be copied. */
export async function assertPrivateFile(path: string): Promise<void> {
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new CertificateError(
      "insecure_permissions",
      `${path} is readable by group or others (mode ${mode.toString(8).padStart(4, "0")}); run: chmod 600 ${path}`,
    );
  }
}
