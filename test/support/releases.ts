import { execFile } from "node:child_process";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * A small stand-in for `npm pack` output, made with tar(1) as npm lays it out: package/package.json
 * (name gpu-node-daemon, so internal/version.ts finds the version in it) and whatever files the test
 * names, under package/ (and folders to `copy`). Packing the whole project takes a build and seconds; the updater treats
 * both alike (it reads package.json and unpacks package/).
 */
export async function packageArchive(dir: string, version: string, files: Record<string, string> = {}, pkg: Record<string, unknown> = {}, copy: Record<string, string> = {}): Promise<string> {
  const root = join(dir, `pack-${version}-${Math.random().toString(36).slice(2, 8)}`);
  const packageJson = { name: "gpu-node-daemon", version, type: "module", bin: { "node-daemon": "dist/cmd/node-daemon/main.js" }, ...pkg };
  const all = { "package.json": JSON.stringify(packageJson, null, 2), ...files };
  for (const [name, text] of Object.entries(all)) {
    const file = join(root, "package", name);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, text);
    // npm pack writes every file 0644; the installer makes the bin executable itself.
    await chmod(file, 0o644);
  }
  // Folders taken whole (e.g. the built dist/), as npm pack would.
  for (const [name, from] of Object.entries(copy)) await run("cp", ["-a", from, join(root, "package", name)]);
  const archive = join(dir, `gpu-node-daemon-${version}-${Math.random().toString(36).slice(2, 8)}.tgz`);
  await run("tar", ["-czf", archive, "-C", root, "package"]);
  return archive;
}
