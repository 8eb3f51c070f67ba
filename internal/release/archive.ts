import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { promisify } from "node:util";
import { z } from "zod";
import { ReleaseError } from "./errors.js";
import { isVersion } from "./semver.js";

const run = promisify(execFile);

/** What an npm pack archive's package/package.json says that matters here. */
const packageJsonSchema = z.object({
  name: z.string().min(1),
  version: z.string().refine(isVersion, "not a version (MAJOR.MINOR.PATCH)"),
  bin: z.record(z.string(), z.string()).optional(),
  dependencies: z.record(z.string(), z.string()).optional(),
});
export type ArchivePackage = z.infer<typeof packageJsonSchema>;

/** Every member of an npm pack archive is under this folder. */
export const PACKAGE_DIR = "package";

/** package/package.json of an `npm pack` archive (a gzip'd tar), read with tar(1) without unpacking anything else. */
export async function readArchivePackage(file: string): Promise<ArchivePackage> {
  let text: string;
  try {
    text = (await run("tar", ["-xzOf", file, `${PACKAGE_DIR}/package.json`], { maxBuffer: 1 << 20 })).stdout;
  } catch (err) {
    throw new ReleaseError("bad_archive", `${file} is not an npm pack archive with package/package.json (${firstLine(err)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ReleaseError("bad_archive", `${file}: package/package.json is not JSON`);
  }
  const parsed = packageJsonSchema.safeParse(json);
  if (!parsed.success) throw new ReleaseError("bad_archive", `${file}: package/package.json: ${parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}`);
  return parsed.data;
}

/**
 * Unpacks an archive (already verified) into `dir`. Every member must lie under package/ with no
 * `..` and no absolute name; tar(1) then writes them as the user running it, with their modes.
 */
export async function extractArchive(file: string, dir: string): Promise<void> {
  const { stdout } = await run("tar", ["-tzf", file], { maxBuffer: 64 << 20 });
  const odd = stdout.split("\n").filter((m) => m !== "" && (!m.startsWith(`${PACKAGE_DIR}/`) || m.split("/").includes("..")));
  if (odd.length > 0) throw new ReleaseError("bad_archive", `${file}: member ${JSON.stringify(odd[0])} is outside package/`);
  try {
    await run("tar", ["-xzf", file, "-C", dir, "--no-same-owner"], { maxBuffer: 1 << 20 });
  } catch (err) {
    throw new ReleaseError("install", `cannot unpack ${file} into ${dir}: ${firstLine(err)}`);
  }
}

export async function sha256OfFile(file: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), size };
}

function firstLine(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  return (e.stderr || e.message || String(err)).trim().split("\n")[0] ?? "";
}
