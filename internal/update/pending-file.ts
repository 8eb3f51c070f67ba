import { join } from "node:path";

/**
 * <root>/updates/pending.json: written by `node-daemon update` before it restarts the daemon on
 * the new version, cleared by that daemon once it reached the hub. Here, apart from InstallRoot,
 * so that a daemon can look for it without loading the updater.
 */
export function pendingUpdateFile(installRoot: string): string {
  return join(installRoot, "updates", "pending.json");
}
