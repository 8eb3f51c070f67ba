import { readFileSync, statSync } from "node:fs";
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import type { KeyObject } from "node:crypto";
import { join } from "node:path";
import { z } from "zod";
import { readArchivePackage, sha256OfFile } from "../../release/archive.js";
import { ReleaseError } from "../../release/errors.js";
import { RELEASE_FORMAT, type ReleaseManifest, signedReleaseSchema, signRelease } from "../../release/manifest.js";
import { compareVersions, isVersion } from "../../release/semver.js";

/** Release archives live in `<data dir>/releases/<version>/`: the archive and release.json (its signed manifest). */
export function releasesDir(dataDir: string): string {
  return join(dataDir, "releases");
}

const RELEASE_FILE = "release.json";
const RECOMMENDED_FILE = "recommended";

const storedReleaseSchema = signedReleaseSchema.extend({ publishedAt: z.iso.datetime() });
export type StoredRelease = z.infer<typeof storedReleaseSchema>;

/** npm pack's own file name: `@scope/name` becomes `scope-name`. */
function archiveName(name: string, version: string): string {
  return `${name.replace(/^@/, "").replace(/\//g, "-")}-${version}.tgz`;
}

/**
 * Signs an npm pack archive and stores it under the hub's data dir (`rental-hub release add`).
 * The version comes from the archive's own package.json; a version already published with other
 * bytes is refused (a release never changes once nodes may have it).
 */
export async function publishRelease(dir: string, archive: string, privateKey: KeyObject, opts: { recommend?: boolean; now?: Date } = {}): Promise<{ release: StoredRelease; added: boolean }> {
  const pkg = await readArchivePackage(archive);
  const { sha256, size } = await sha256OfFile(archive);
  const manifest: ReleaseManifest = { format: RELEASE_FORMAT, name: pkg.name, version: pkg.version, file: archiveName(pkg.name, pkg.version), sha256, size };
  const target = join(dir, pkg.version);
  const existing = await readRelease(target).catch(() => undefined);
  let added = false;
  if (existing) {
    if (existing.manifest.sha256 !== sha256) throw new ReleaseError("bad_archive", `release ${pkg.version} is already published with other bytes (SHA-256 ${existing.manifest.sha256.slice(0, 16)}…): a published version never changes; give the new build a new version`);
  } else {
    const stored: StoredRelease = { ...signRelease(manifest, privateKey), publishedAt: (opts.now ?? new Date()).toISOString() };
    // Written beside, then renamed: a hub never serves half a release.
    const tmp = join(dir, `.${pkg.version}.tmp-${process.pid}`);
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    await copyFile(archive, join(tmp, manifest.file));
    await writeFile(join(tmp, RELEASE_FILE), `${JSON.stringify(stored, null, 2)}\n`);
    await rename(tmp, target);
    added = true;
  }
  if (opts.recommend) await recommendRelease(dir, pkg.version);
  return { release: existing ?? (await readRelease(target)), added };
}

/** Makes `version` (published already) the one nodes are told to run. */
export async function recommendRelease(dir: string, version: string): Promise<void> {
  await readRelease(join(dir, version)).catch(() => {
    throw new ReleaseError("unknown_release", `release ${version} is not published here (rental-hub release list shows what is)`);
  });
  const tmp = join(dir, `.${RECOMMENDED_FILE}.tmp-${process.pid}`);
  await writeFile(tmp, `${version}\n`);
  await rename(tmp, join(dir, RECOMMENDED_FILE));
}

async function readRelease(versionDir: string): Promise<StoredRelease> {
  return storedReleaseSchema.parse(JSON.parse(await readFile(join(versionDir, RELEASE_FILE), "utf8")));
}

/** How long the recommended version is remembered before the file is read again (node views ask for it per node). */
const RECOMMENDED_TTL_MS = 1_000;

/**
 * The hub's read side of the releases folder: what `rental-hub release add` put there, read when
 * asked (so a release published while the hub runs is served at once). Nothing here is secret:
 * the signatures are what nodes trust.
 */
export class ReleaseCatalog {
  private cached?: { at: number; version: string | null };

  constructor(
    private readonly dir: string,
    private readonly now: () => number = Date.now,
  ) {}

  async list(): Promise<StoredRelease[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const found = await Promise.all(names.filter(isVersion).map((v) => readRelease(join(this.dir, v)).catch(() => undefined)));
    return found.filter((r): r is StoredRelease => r !== undefined).sort((a, b) => compareVersions(b.manifest.version, a.manifest.version));
  }

  async get(version: string): Promise<StoredRelease | undefined> {
    if (!isVersion(version)) return undefined;
    return readRelease(join(this.dir, version)).catch(() => undefined);
  }

  /** The archive's path and size, once its release is published. */
  async archive(version: string): Promise<{ path: string; size: number; release: StoredRelease } | undefined> {
    const release = await this.get(version);
    if (!release) return undefined;
    const path = join(this.dir, version, release.manifest.file);
    const s = await stat(path).catch(() => undefined);
    return s ? { path, size: s.size, release } : undefined;
  }

  /**
   * The version nodes are told to run; null when the operator recommended none. Synchronous: node
   * views are built without awaiting, and read it for up to a second; `fresh` reads the file now.
   */
  recommended(fresh = false): string | null {
    const now = this.now();
    if (!fresh && this.cached && now - this.cached.at < RECOMMENDED_TTL_MS) return this.cached.version;
    let version: string | null = null;
    try {
      const text = readFileSync(join(this.dir, RECOMMENDED_FILE), "utf8").trim();
      version = isVersion(text) && statSync(join(this.dir, text)).isDirectory() ? text : null;
    } catch {
      version = null;
    }
    this.cached = { at: now, version };
    return version;
  }

  /** The recommended version when `daemonVersion` is older than it; null when it is not behind (or none is recommended, or it is no version). */
  behind(daemonVersion: string | undefined): string | null {
    const rec = this.recommended();
    if (!rec || !daemonVersion || !isVersion(daemonVersion)) return null;
    return compareVersions(daemonVersion, rec) < 0 ? rec : null;
  }
}
