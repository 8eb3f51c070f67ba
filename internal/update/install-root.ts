import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, readlink, rename, rm, stat, symlink, unlink, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { promisify } from "node:util";
import { z } from "zod";
import { type ArchivePackage, extractArchive, PACKAGE_DIR } from "../release/archive.js";
import { ReleaseError } from "../release/errors.js";
import { isVersion } from "../release/semver.js";
import { pendingUpdateFile } from "./pending-file.js";

const run = promisify(execFile);

/** What `node-daemon update` leaves while a new version proves itself: the daemon of `next` removes it once it reached the hub. */
export const pendingSchema = z.object({ previous: z.string(), next: z.string(), deadline: z.iso.datetime() });
export type PendingUpdate = z.infer<typeof pendingSchema>;

/**
 * The daemon's install root, as systemd/install.sh lays it out:
 *
 *   <root>/versions/<version>/   one unpacked package each (package.json, dist/, node_modules/)
 *   <root>/current               symlink to versions/<version>: what /usr/bin/node-daemon runs
 *   <root>/updates/              the daemon's own (it may write here): pending.json during an update
 *
 * Everything but updates/ belongs to root; the daemon's user only reads it.
 */
export class InstallRoot {
  readonly versionsDir: string;
  readonly currentLink: string;
  readonly updatesDir: string;
  readonly pendingFile: string;

  constructor(readonly root: string) {
    this.versionsDir = join(root, "versions");
    this.currentLink = join(root, "current");
    this.updatesDir = join(root, "updates");
    this.pendingFile = pendingUpdateFile(root);
  }

  /** The version `current` points at; throws when the root is not laid out for updates. */
  async currentVersion(): Promise<string> {
    let target: string;
    try {
      target = await readlink(this.currentLink);
    } catch {
      throw new ReleaseError("install", `${this.currentLink} is not a symlink: ${this.root} is not laid out for updates (systemd/install.sh --release ARCHIVE makes versions/ and current; -install-root names another place)`);
    }
    const version = basename(target);
    if (!isVersion(version) || !(await isDir(join(this.versionsDir, version)))) throw new ReleaseError("install", `${this.currentLink} points at ${target}, not at a version under ${this.versionsDir}`);
    return version;
  }

  versionDir(version: string): string {
    return join(this.versionsDir, version);
  }

  /**
   * Unpacks a verified archive into versions/<version>/, beside the running version, and gives it
   * the dependencies it needs without the network: its own (an archive that bundles node_modules),
   * or a hard-linked copy of the previous version's when it asks for exactly the same ones.
   */
  async unpack(archive: string, pkg: ArchivePackage, previous: string): Promise<string> {
    const target = this.versionDir(pkg.version);
    const work = await mkdtemp(join(this.versionsDir, `.unpack-${pkg.version}-`));
    try {
      await extractArchive(archive, work);
      const unpacked = join(work, PACKAGE_DIR);
      await this.provideDependencies(unpacked, pkg, previous);
      // npm pack stores files 0644: the bins must run (/usr/bin/node-daemon -> current/<bin>).
      for (const bin of Object.values(pkg.bin ?? {})) await chmod(join(unpacked, bin), 0o755).catch(() => undefined);
      // A leftover of an earlier attempt at this version (never the current one: it is not newer) gives way.
      await rm(target, { recursive: true, force: true });
      await rename(unpacked, target);
      return target;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  private async provideDependencies(unpacked: string, pkg: ArchivePackage, previous: string): Promise<void> {
    const wanted = pkg.dependencies ?? {};
    if (Object.keys(wanted).length === 0 || (await isDir(join(unpacked, "node_modules")))) return;
    const prevDir = this.versionDir(previous);
    const prev = await readArchivePackageJson(prevDir);
    const differ = Object.entries(wanted).filter(([name, range]) => prev.dependencies?.[name] !== range);
    if (differ.length > 0) {
      const [name, range] = differ[0] ?? ["", ""];
      throw new ReleaseError(
        "install",
        `release ${pkg.version} needs other dependencies than ${previous} (${differ.length}, e.g. ${name}@${range}) and does not bundle them: it cannot be installed without the network; publish an archive with bundled dependencies, or install it by hand (npm install)`,
      );
    }
    // Hard links: instant, no extra space, and independent of the previous folder once it is removed.
    const from = join(prevDir, "node_modules");
    const to = join(unpacked, "node_modules");
    try {
      await run("cp", ["-al", from, to]);
    } catch {
      await rm(to, { recursive: true, force: true });
      await run("cp", ["-a", from, to]);
    }
  }

  /** Points `current` at versions/<version> in one step (a new link renamed over the old). */
  async switchTo(version: string): Promise<void> {
    if (!(await isDir(this.versionDir(version)))) throw new ReleaseError("install", `${this.versionDir(version)} does not exist`);
    const tmp = join(this.root, `.current.tmp-${process.pid}`);
    await rm(tmp, { force: true });
    await symlink(join("versions", version), tmp);
    await rename(tmp, this.currentLink);
  }

  async writePending(p: PendingUpdate): Promise<void> {
    await mkdir(this.updatesDir, { recursive: true });
    const tmp = join(this.updatesDir, `.pending.tmp-${process.pid}`);
    await writeFile(tmp, `${JSON.stringify(p)}\n`, { mode: 0o644 });
    await rename(tmp, this.pendingFile);
  }

  /** The update in progress, if any (an unreadable file counts as none). */
  async readPending(): Promise<PendingUpdate | undefined> {
    try {
      return pendingSchema.parse(JSON.parse(await readFile(this.pendingFile, "utf8")));
    } catch {
      return undefined;
    }
  }

  async clearPending(): Promise<void> {
    await unlink(this.pendingFile).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
  }

  /** Where a download waits for its checks: beside versions/, on the same file system. */
  async scratchFile(name: string): Promise<string> {
    await mkdir(this.versionsDir, { recursive: true });
    return join(this.versionsDir, `.${name}-${process.pid}`);
  }
}

async function readArchivePackageJson(dir: string): Promise<ArchivePackage> {
  try {
    return JSON.parse(await readFile(join(dir, "package.json"), "utf8")) as ArchivePackage;
  } catch {
    throw new ReleaseError("install", `${dir}/package.json cannot be read`);
  }
}

async function isDir(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isDirectory(), () => false);
}
