import { chmod, mkdir, open, readFile, readdir, rename, unlink } from "node:fs/promises";
import { basename, join } from "node:path";

export interface FileSpec {
  name: string;
  content: string;
  mode: number;
}

/** Present while a set of files is half-renamed into place; it lists the names in the set. */
const PENDING_MARKER = ".pending-files";
const tmpName = (name: string): string => `.${name}.tmp`;

/**
 * Replaces several files as one unit, so a crash never pairs a new key with an old certificate:
 * every file is written and synced under a temporary name, then a marker listing them is
 * committed, then they are renamed into place. `recoverFileSet` finishes a committed set after a
 * crash and discards an uncommitted one. One writer per folder is assumed.
 */
export async function writeFileSet(dir: string, files: FileSpec[]): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  await recoverFileSet(dir);
  for (const f of files) await writeSynced(join(dir, tmpName(f.name)), f.content, f.mode);
  await writeSynced(join(dir, tmpName(PENDING_MARKER)), JSON.stringify(files.map((f) => f.name)), 0o600);
  await rename(join(dir, tmpName(PENDING_MARKER)), join(dir, PENDING_MARKER));
  await syncDir(dir);
  await finishPending(dir, files.map((f) => f.name));
}

/** Brings the folder to the last committed state; a no-op when no save was interrupted. */
export async function recoverFileSet(dir: string): Promise<void> {
  let marker: string;
  try {
    marker = await readFile(join(dir, PENDING_MARKER), "utf8");
  } catch (err) {
    if (isNotFound(err)) return discardTemporaries(dir);
    throw err;
  }
  const names = parseMarker(marker);
  if (names) return finishPending(dir, names);
  // A marker is renamed into place whole, so an unreadable one was not written by us: leave the
  // files alone and let the caller's consistency checks report what they find.
  await unlink(join(dir, PENDING_MARKER));
}

async function finishPending(dir: string, names: string[]): Promise<void> {
  for (const name of names) {
    try {
      await rename(join(dir, tmpName(name)), join(dir, name));
    } catch (err) {
      if (!isNotFound(err)) throw err; // already renamed before the crash
    }
  }
  await syncDir(dir);
  await unlink(join(dir, PENDING_MARKER));
  await syncDir(dir);
}

async function discardTemporaries(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
  for (const e of entries) {
    if (e.startsWith(".") && e.endsWith(".tmp")) await unlink(join(dir, e));
  }
}

function parseMarker(text: string): string[] | undefined {
  try {
    const names: unknown = JSON.parse(text);
    if (!Array.isArray(names)) return undefined;
    const ok = names.every((n) => typeof n === "string" && n !== "" && basename(n) === n && !n.startsWith("."));
    return ok ? (names as string[]) : undefined;
  } catch {
    return undefined;
  }
}

async function writeSynced(path: string, content: string, mode: number): Promise<void> {
  const fh = await open(path, "w", mode);
  try {
    await fh.chmod(mode); // the umask may have narrowed or the file may have existed
    await fh.writeFile(content, "utf8");
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}
