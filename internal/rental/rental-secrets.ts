import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * The one thing about a rental that may not live on its container: the SSH password hash (labels
 * and env show in `docker inspect`). One 0600 file per rental in the daemon's state folder.
 */
export class RentalSecrets {
  constructor(private readonly dir: string) {}

  async save(rentalId: string, passwordHash: string): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFile(this.file(rentalId), JSON.stringify({ passwordHash }), { mode: 0o600 });
  }

  async passwordHash(rentalId: string): Promise<string | undefined> {
    try {
      const parsed = JSON.parse(await readFile(this.file(rentalId), "utf8")) as { passwordHash?: unknown };
      return typeof parsed.passwordHash === "string" ? parsed.passwordHash : undefined;
    } catch {
      return undefined;
    }
  }

  async remove(rentalId: string): Promise<void> {
    await rm(this.file(rentalId), { force: true });
  }

  private file(rentalId: string): string {
    return join(this.dir, `${rentalId}.json`);
  }
}
