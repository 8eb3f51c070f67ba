import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { usageError } from "./cli-error.js";

/** The public key a rental lets in: --ssh-key's file, else ~/.ssh/id_ed25519.pub, else ~/.ssh/id_rsa.pub. */
export async function publicKey(path: string | undefined): Promise<string> {
  const candidates = path ? [path] : [join(homedir(), ".ssh", "id_ed25519.pub"), join(homedir(), ".ssh", "id_rsa.pub")];
  for (const file of candidates) {
    try {
      const text = (await readFile(file, "utf8")).trim();
      if (text) return text;
    } catch (err) {
      if (path || (err as NodeJS.ErrnoException).code !== "ENOENT") throw usageError(`cannot read the SSH public key ${file}: ${(err as Error).message}`);
    }
  }
  throw usageError("no SSH public key: pass --ssh-key FILE.pub, or make one with ssh-keygen -t ed25519");
}
