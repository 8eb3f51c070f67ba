import { join } from "node:path";
import type { ContainerEngine } from "../container/engine.js";
import type { Logger } from "../log/logger.js";
import { loadOrCreateHostKey, type HostKey } from "./host-key.js";
import type { PortRange } from "./port-range.js";
import { RentalListener } from "./rental-listener.js";
import { readSftpHelper, type SftpHelper } from "./sftp-helper.js";
import { resolveAccess, type SshAccess } from "./ssh-access.js";
import type { HostKeyPin, SshListeners } from "./ssh-listeners.js";

export interface SshGatewayOptions {
  /** ed25519 private key (OpenSSH PEM), created 0600 on first start, reused after. */
  hostKeyPath: string;
  listenHost: string;
  /** Each rental gets one port of this range; ports in use on the host are skipped. */
  ports: PortRange;
  /** Folder with the injected sftp-server bundle (prepareSftpHelper). */
  helperDir: string;
}

export const defaultSshGatewayOptions: Pick<SshGatewayOptions, "listenHost" | "ports"> = {
  listenHost: "0.0.0.0",
  ports: { first: 2200, last: 2299 },
};

/**
 * Where SSH's files live in the node's state dir: node-daemon prepares the sftp helper there (it mounts
 * it into rentals), and whichever process runs the listeners (node-daemon or node-ssh-gateway) keeps
 * the host key there.
 */
export function sshStatePaths(stateDir: string): Pick<SshGatewayOptions, "hostKeyPath" | "helperDir"> {
  return { hostKeyPath: join(stateDir, "ssh_host_ed25519_key"), helperDir: join(stateDir, "sftp-helper") };
}

export interface SshGatewayDeps {
  engine: ContainerEngine;
  logger: Logger;
}

/**
 * Renters reach their rental container with a stock OpenSSH client: one SSH listener per rental
 * (its own port), sessions bridged into `docker exec` in the container, so nothing is installed in
 * the image. Shell, exec, scp/sftp (via an injected sftp-server) and `ssh -L` to the container.
 */
export class SshGateway implements SshListeners {
  private readonly log: Logger;
  private readonly rentals = new Map<string, Promise<RentalListener>>();
  private hostKey: Promise<HostKey> | undefined;
  private sftp: Promise<SftpHelper> | undefined;

  constructor(
    private opts: SshGatewayOptions,
    private readonly deps: SshGatewayDeps,
  ) {
    this.log = deps.logger.child({ component: "ssh-gateway" });
  }

  /** Host key fingerprint (SHA256:... as OpenSSH prints it) for the README / ack. */
  async hostKeyFingerprint(): Promise<string> {
    return (await this.loadHostKey()).fingerprint;
  }

  /** The host key as renters pin it: fingerprint and known_hosts key field. */
  async hostKeyPin(): Promise<HostKeyPin> {
    const k = await this.loadHostKey();
    return { fingerprint: k.fingerprint, publicKey: k.publicKey };
  }

  /**
   * Starts (or returns the existing) listener for this rental; resolves when it accepts
   * connections. Idempotent by rentalId: a second call returns the same port and applies the new
   * access (keys, password) to later logins. A preferredPort (from an earlier daemon life, for
   * adoption) is used when it is free and inside the range.
   */
  async open(access: SshAccess, preferredPort?: number): Promise<{ port: number }> {
    const resolved = resolveAccess(access);
    const existing = this.rentals.get(resolved.rentalId);
    if (existing) {
      const listener = await existing;
      listener.update(resolved);
      return { port: listener.port };
    }
    const starting = (async () => {
      const hostKey = await this.loadHostKey();
      const logger = this.log.child({ rentalId: resolved.rentalId });
      const listener = new RentalListener(resolved, { engine: this.deps.engine, logger, hostKey, sftpCommand: async () => (await this.helper()).command, scpCommand: async () => (await this.helper().catch(() => undefined))?.scpCommand });
      try {
        await listener.listen(this.opts.listenHost, this.opts.ports, preferredPort);
      } catch (err) {
        await listener.close();
        throw err;
      }
      logger.info({ port: listener.port, host: this.opts.listenHost }, "SSH access open");
      return listener;
    })();
    this.rentals.set(resolved.rentalId, starting);
    try {
      return { port: (await starting).port };
    } catch (err) {
      if (this.rentals.get(resolved.rentalId) === starting) this.rentals.delete(resolved.rentalId);
      throw err;
    }
  }

  /** Closes the rental's listener and its live sessions; closing an unknown rental succeeds. */
  async close(rentalId: string): Promise<void> {
    const entry = this.rentals.get(rentalId);
    if (!entry) return;
    this.rentals.delete(rentalId);
    const listener = await entry.catch(() => undefined); // a failed open left nothing to close
    if (!listener) return;
    await listener.close();
    this.log.info({ rentalId, port: listener.port }, "SSH access closed");
  }

  /** Where listeners opened from now on listen; open ones keep their port. */
  listenOn(listenHost: string, ports: PortRange): void {
    this.opts = { ...this.opts, listenHost, ports };
  }

  /** The listeners open now, by rental (ones still opening or failed to open are left out). */
  async openListeners(): Promise<{ rentalId: string; port: number }[]> {
    const all = await Promise.all([...this.rentals].map(async ([rentalId, p]) => ({ rentalId, port: (await p.catch(() => undefined))?.port })));
    return all.flatMap((l) => (l.port ? [{ rentalId: l.rentalId, port: l.port }] : []));
  }

  /** Closes the listeners of every rental not in `keep`; returns those it closed. */
  async retainOnly(keep: ReadonlySet<string>): Promise<string[]> {
    const gone = [...this.rentals.keys()].filter((id) => !keep.has(id));
    await Promise.all(gone.map((id) => this.close(id)));
    return gone;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.rentals.keys()].map((id) => this.close(id)));
  }

  private loadHostKey(): Promise<HostKey> {
    if (this.hostKey) return this.hostKey;
    const p = loadOrCreateHostKey(this.opts.hostKeyPath, this.log);
    // A failure (unreadable file) is not cached: the next call tries again.
    p.catch(() => this.hostKey === p && (this.hostKey = undefined));
    return (this.hostKey = p);
  }

  /** Read once the first sftp or scp session asks; a missing bundle is retried on the next request. */
  private helper(): Promise<SftpHelper> {
    if (this.sftp) return this.sftp;
    const p = readSftpHelper(this.opts.helperDir);
    p.catch(() => this.sftp === p && (this.sftp = undefined));
    return (this.sftp = p);
  }
}
