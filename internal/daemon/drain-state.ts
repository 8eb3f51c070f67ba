import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

/**
 * Whether the node takes new rentals. Kept in <state dir>/draining so that a drained node stays
 * drained across restarts (an operator drains before maintenance that may well reboot it).
 */
export class DrainState {
  private constructor(
    private readonly file: string,
    private current: { since: string } | undefined,
  ) {}

  static async load(stateDir: string): Promise<DrainState> {
    const file = join(stateDir, "draining");
    let since: string | undefined;
    try {
      const parsed = JSON.parse(await readFile(file, "utf8")) as { since?: unknown };
      since = typeof parsed.since === "string" ? parsed.since : new Date(0).toISOString();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") since = new Date(0).toISOString(); // unreadable: stay on the safe side
    }
    return new DrainState(file, since === undefined ? undefined : { since });
  }

  get draining(): boolean {
    return this.current !== undefined;
  }

  /** When draining began (RFC 3339), if it is on. */
  get since(): string | undefined {
    return this.current?.since;
  }

  /** Returns false when it already was so. Written before it takes effect: a crash cannot forget it. */
  async set(draining: boolean): Promise<boolean> {
    if (draining === this.draining) return false;
    if (draining) {
      const next = { since: new Date().toISOString() };
      await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
      const tmp = `${this.file}.tmp`;
      await writeFile(tmp, `${JSON.stringify(next)}\n`, { mode: 0o600 });
      await rename(tmp, this.file);
      this.current = next;
    } else {
      await rm(this.file, { force: true });
      this.current = undefined;
    }
    return true;
  }
}
