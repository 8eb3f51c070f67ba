import { execFile } from "node:child_process";
import type { KeyObject } from "node:crypto";
import { rm } from "node:fs/promises";
import { promisify } from "node:util";
import type { HttpTarget } from "../httpclient/json-client.js";
import { readArchivePackage } from "../release/archive.js";
import { ReleaseError } from "../release/errors.js";
import { checkArchive, verifyRelease } from "../release/manifest.js";
import { compareVersions, isVersion } from "../release/semver.js";
import { sleep } from "../util/abort.js";
import { InstallRoot } from "./install-root.js";
import { ReleaseClient } from "./release-client.js";

const run = promisify(execFile);

/** The package every release must be: a signature over another package's archive installs nothing. */
export const PACKAGE_NAME = "gpu-node-daemon";

export interface UpdaterOptions {
  hub: HttpTarget;
  installRoot: string;
  /** The release key this node trusts (-release-public-key-file). */
  publicKey: KeyObject;
  /** Run through /bin/sh -c after each switch of `current` (default: systemctl restart node-daemon). */
  restartCommand: string;
  /** How long the new version has to reach the hub before the previous one is put back. */
  confirmTimeoutMs: number;
  /** How often the pending file is looked at while waiting. */
  pollMs?: number;
}

export interface UpdateCheck {
  installed: string;
  recommended: string | null;
  /** The recommended version when it is newer than the installed one. */
  available: string | null;
}

export type UpdateOutcome = { kind: "up-to-date"; installed: string; recommended: string | null } | { kind: "updated"; from: string; to: string };

/**
 * `node-daemon update`: the recommended (or a named) release from the hub, verified against this
 * node's release key, unpacked beside the running version, switched to and restarted through
 * systemd; put back when the new version does not reach the hub in time. Nothing is changed until
 * the signature, the archive's hash and the version order all check out.
 */
export class Updater {
  private readonly root: InstallRoot;
  private readonly client: ReleaseClient;

  constructor(
    private readonly opts: UpdaterOptions,
    private readonly deps: { say: (line: string) => void; signal?: AbortSignal; now?: () => number },
  ) {
    this.root = new InstallRoot(opts.installRoot);
    this.client = new ReleaseClient(opts.hub, deps.signal);
  }

  async check(): Promise<UpdateCheck> {
    const installed = await this.root.currentVersion();
    const { recommended } = await this.client.recommended();
    const available = recommended && isVersion(recommended) && compareVersions(recommended, installed) > 0 ? recommended : null;
    return { installed, recommended, available };
  }

  /** Installs `version` (default: the hub's recommended one) when it is newer than the installed one. */
  async update(version?: string): Promise<UpdateOutcome> {
    await this.recoverUnconfirmed();
    const installed = await this.root.currentVersion();
    const target = version ?? (await this.client.recommended()).recommended;
    if (target === null) return { kind: "up-to-date", installed, recommended: null };
    if (!isVersion(target)) throw new ReleaseError("unknown_release", `${JSON.stringify(target)} is not a version`);
    const order = compareVersions(target, installed);
    if (order === 0) return { kind: "up-to-date", installed, recommended: target };
    if (order < 0) throw new ReleaseError("not_newer", `refusing release ${target}: it is older than the installed ${installed} (a downgrade is never installed; nothing was changed)`);

    // 1. The manifest, checked against this node's key before anything is downloaded.
    const signed = await this.client.release(target);
    const manifest = verifyRelease(signed, this.opts.publicKey);
    if (manifest.version !== target || manifest.name !== PACKAGE_NAME) {
      throw new ReleaseError("bad_signature", `refusing release ${target}: its signed manifest is for ${manifest.name} ${manifest.version}`);
    }
    this.deps.say(`release ${target} is signed by the trusted key ${signed.keyId}; downloading ${manifest.size} bytes`);

    // 2. The archive, checked against the signed hash and size; then its own package.json.
    const archive = await this.root.scratchFile(`download-${target}.tgz`);
    try {
      checkArchive(manifest, await this.client.download(target, archive, manifest.size));
      const pkg = await readArchivePackage(archive);
      if (pkg.name !== PACKAGE_NAME || pkg.version !== target) throw new ReleaseError("bad_archive", `refusing release ${target}: the archive holds ${pkg.name} ${pkg.version}`);
      // 3. Beside the running version; `current` still points at the old one.
      const dir = await this.root.unpack(archive, pkg, installed);
      this.deps.say(`unpacked ${target} into ${dir}`);
    } finally {
      await rm(archive, { force: true });
    }

    // 4. Switch, restart, and wait for the new daemon to say it reached the hub.
    const deadline = this.now() + this.opts.confirmTimeoutMs;
    await this.root.writePending({ previous: installed, next: target, deadline: new Date(deadline).toISOString() });
    await this.root.switchTo(target);
    this.deps.say(`switched ${this.root.currentLink} to ${target}; restarting the daemon`);
    await this.restart();
    if (await this.confirmed(target, deadline)) {
      this.deps.say(`node-daemon ${target} reached the hub: the update is done (${installed} stays in ${this.root.versionsDir} until removed)`);
      return { kind: "updated", from: installed, to: target };
    }
    await this.rollBack(installed);
    throw new ReleaseError(
      "rolled_back",
      `node-daemon ${target} did not reach the hub within ${Math.round(this.opts.confirmTimeoutMs / 1000)} s: switched back to ${installed} and restarted it (see the daemon's log, e.g. journalctl -u node-daemon; ${target} stays in ${this.root.versionDir(target)})`,
    );
  }

  /** An earlier update whose new version never confirmed and whose watcher is gone (killed, machine rebooted): put the previous version back. */
  private async recoverUnconfirmed(): Promise<void> {
    const pending = await this.root.readPending();
    if (!pending) return;
    if (Date.parse(pending.deadline) > this.now()) throw new ReleaseError("install", `an update to ${pending.next} is in progress (until ${pending.deadline}): try again after it`);
    this.deps.say(`the update to ${pending.next} never reached the hub: switching back to ${pending.previous}`);
    await this.rollBack(pending.previous);
  }

  private async rollBack(previous: string): Promise<void> {
    await this.root.switchTo(previous);
    await this.root.clearPending();
    await this.restart();
  }

  private async confirmed(version: string, deadline: number): Promise<boolean> {
    const poll = this.opts.pollMs ?? 500;
    for (;;) {
      const pending = await this.root.readPending();
      if (!pending || pending.next !== version) return true;
      if (this.now() >= deadline) return false;
      await sleep(Math.min(poll, Math.max(1, deadline - this.now())), this.deps.signal);
    }
  }

  private async restart(): Promise<void> {
    try {
      await run("/bin/sh", ["-c", this.opts.restartCommand], { timeout: 60_000 });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new ReleaseError("install", `the restart command (${this.opts.restartCommand}) failed: ${(e.stderr || e.message).trim().split("\n")[0]}`);
    }
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }
}

/**
 * Called by the daemon once it reached the hub: when an update to this very version waits for
 * that word, it is given (the updater, watching, stops its clock). Anything else is left alone.
 */
export async function confirmUpdate(installRoot: string, runningVersion: string): Promise<PendingUpdateConfirmation> {
  const root = new InstallRoot(installRoot);
  const pending = await root.readPending();
  if (!pending || pending.next !== runningVersion) return undefined;
  await root.clearPending();
  return { from: pending.previous, to: pending.next };
}

export type PendingUpdateConfirmation = { from: string; to: string } | undefined;
