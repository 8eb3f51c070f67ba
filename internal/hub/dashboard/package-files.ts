import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The absolute path of a file that ships as source, not as compiled output (the dashboard's
 * HTML/JS/CSS, the OpenAPI document): `tsc` copies only what it compiles into dist/, so this walks
 * up from the calling module (internal/... when run from source, dist/internal/... when built)
 * until `relPath` exists under a folder. One copy, read at run time: no build step copies anything.
 */
export function packageFile(fromModuleUrl: string, relPath: string): string {
  let dir = dirname(fileURLToPath(fromModuleUrl));
  for (;;) {
    const candidate = join(dir, relPath);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`${relPath} not found in any folder above ${fileURLToPath(fromModuleUrl)}: the hub must run from a checkout or package that includes its sources`);
    dir = parent;
  }
}
