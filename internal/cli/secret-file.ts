import { readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { ConfigError } from "./settings.js";

/**
 * A secret kept in a file of its own (e.g. a systemd credential), trimmed. Refused unless only its
 * owner can read it, as the daemon's key file is. `where` names the setting, e.g. "flag -database-url-file".
 * Messages never show the content.
 */
export async function readSecretFile(path: string, where: string): Promise<string> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (err) {
    throw new ConfigError(`${where}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if ((mode & 0o077) !== 0 && !inCredentialsDirectory(path)) {
    const octal = (mode & 0o777).toString(8).padStart(4, "0");
    throw new ConfigError(`${where}: ${path} is readable by group or others (mode ${octal}); run: chmod 600 ${path}`);
  }
  try {
    return (await readFile(path, "utf8")).trim();
  } catch (err) {
    throw new ConfigError(`${where}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/**
 * systemd's LoadCredential= files are private to the unit whatever their mode bits say (newer
 * systemd grants access through an ACL and shows mode 0440), so the mode check does not apply.
 */
function inCredentialsDirectory(path: string): boolean {
  const dir = process.env.CREDENTIALS_DIRECTORY;
  return dir !== undefined && dir !== "" && resolve(path).startsWith(`${resolve(dir)}/`);
}
