import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";

const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * The node id this machine's containers are labelled with: the first one it registered as, kept in
 * <state dir>/workload-owner. A fresh sign-in can give the node a new id (the hub lost its records);
 * its running rentals and miners keep their labels and are still this daemon's to adopt, now and
 * after a restart, instead of being orphaned under an id nobody looks for.
 */
export async function workloadOwner(stateDir: string, currentNodeId: string): Promise<string> {
  const file = join(stateDir, "workload-owner");
  try {
    const saved = (await readFile(file, "utf8")).trim();
    if (NODE_ID.test(saved)) return saved;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await writeFile(`${file}.tmp`, `${currentNodeId}\n`, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
  return currentNodeId;
}
