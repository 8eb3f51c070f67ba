import { OwnerOnlyFileError, readOwnerOnlyFile } from "../util/owner-only-file.js";
import { ConfigError } from "./settings.js";

/**
 * A secret kept in a file of its own (e.g. a systemd credential), trimmed. Refused unless only its
 * owner can read it, as the daemon's key file is. `where` names the setting, e.g. "flag -database-url-file".
 * Messages never show the content.
 */
export async function readSecretFile(path: string, where: string): Promise<string> {
  try {
    return (await readOwnerOnlyFile(path)).trim();
  } catch (err) {
    if (!(err instanceof OwnerOnlyFileError)) throw err;
    const p = err.problem;
    throw new ConfigError(p.kind === "loose" ? `${where}: ${path} is readable by group or others (mode ${p.mode}); run: chmod 600 ${path}` : `${where}: cannot read ${path} (${p.code})`);
  }
}
