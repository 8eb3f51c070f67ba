import { readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { AppError } from "../errors/app-error.js";

/** Why a secret's file was not read: callers word it for the setting it belongs to. */
export type OwnerOnlyProblem = { kind: "unreadable"; code: string } | { kind: "loose"; mode: string };

export class OwnerOnlyFileError extends AppError {
  readonly code = "owner_only_file";
  override readonly shownToUser = true;
  override readonly name = "OwnerOnlyFileError";
  constructor(readonly problem: OwnerOnlyProblem) {
    super(problem.kind === "loose" ? `readable by group or others (mode ${problem.mode})` : `cannot be read (${problem.code})`);
  }
}

/** Reads a file that holds a secret, refused unless only its owner can read it. Never shows the content. */
export async function readOwnerOnlyFile(path: string): Promise<string> {
  const unreadable = (err: unknown): OwnerOnlyFileError => new OwnerOnlyFileError({ kind: "unreadable", code: (err as NodeJS.ErrnoException).code ?? (err as Error).message });
  const mode = await stat(path).then((s) => s.mode, (err: unknown) => Promise.reject(unreadable(err)));
  if ((mode & 0o077) !== 0 && !inCredentialsDirectory(path)) throw new OwnerOnlyFileError({ kind: "loose", mode: (mode & 0o777).toString(8).padStart(4, "0") });
  return readFile(path, "utf8").catch((err: unknown) => Promise.reject(unreadable(err)));
}

/**
 * systemd's LoadCredential= files are private to the unit whatever their mode bits say (newer
 * systemd grants access through an ACL and shows mode 0440), so the mode check does not apply.
 */
function inCredentialsDirectory(path: string): boolean {
  const dir = process.env.CREDENTIALS_DIRECTORY;
  return dir !== undefined && dir !== "" && resolve(path).startsWith(`${resolve(dir)}/`);
}
