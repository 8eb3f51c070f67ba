import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import ssh2 from "ssh2";
import type { Logger } from "../log/logger.js";
import { SshGatewayError } from "./errors.js";
import { sshFingerprint } from "./ssh-access.js";

export interface HostKey {
  /** OpenSSH-format private key PEM, as ssh2's server takes it. */
  privateKey: string;
  /** SHA256:… as `ssh` prints it when it first meets the host. */
  fingerprint: string;
  /** "ssh-ed25519 AAAA…": the key field of a known_hosts line. */
  publicKey: string;
}

/**
 * Reads the gateway's ed25519 host key, creating it (mode 0600, parent 0700) on first start. The
 * key must outlive daemon restarts: renters pin it in known_hosts, and a new key would make every
 * client refuse the host. Creation uses O_EXCL, so two starters never overwrite each other's key.
 */
export async function loadOrCreateHostKey(path: string, logger: Logger): Promise<HostKey> {
  let pem = await readIfExists(path);
  if (pem !== undefined && isUnreadableKeyOfOurs(pem)) {
    // Made by an earlier version with ssh2's bug (generateHostKey): it never served, so no renter pinned it.
    logger.warn({ path }, "the SSH host key this daemon made earlier is unreadable (an ssh2 bug); making a new one");
    await rm(path, { force: true });
    pem = undefined;
  }
  if (pem === undefined) {
    const created = await generateHostKey();
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    try {
      await writeFile(path, created, { mode: 0o600, flag: "wx" });
      logger.info({ path }, "created the SSH host key");
      pem = created;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw hostKeyError(path, "cannot be written", err);
      pem = await readFile(path, "utf8"); // another starter won the race: use its key
    }
  } else {
    const mode = (await stat(path)).mode & 0o777;
    if ((mode & 0o077) !== 0) logger.warn({ path, mode: mode.toString(8) }, "the SSH host key is readable by other users; chmod 600 it");
  }
  const key = ssh2.utils.parseKey(pem);
  if (key instanceof Error) throw hostKeyError(path, `is not a private key ssh2 can read (${key.message})`);
  if (!key.isPrivateKey()) throw hostKeyError(path, "holds a public key, not a private one");
  return { privateKey: pem, fingerprint: sshFingerprint(key.getPublicSSH()), publicKey: `${key.type} ${key.getPublicSSH().toString("base64")}` };
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw hostKeyError(path, "cannot be read", err);
  }
}

const KEY_COMMENT = "gpunode-ssh-gateway";

/**
 * A new ed25519 key in OpenSSH format. ssh2's generateKeyPair drops a leading zero byte of the
 * public key (about 1 key in 250), and its own parseKey then refuses the key as malformed; such a
 * key is thrown away and another made.
 */
export async function generateHostKey(): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const pem = await new Promise<string>((resolve, reject) => {
      ssh2.utils.generateKeyPair("ed25519", { comment: KEY_COMMENT }, (err, pair) => (err ? reject(err) : resolve(pair.private)));
    });
    if (!(ssh2.utils.parseKey(pem) instanceof Error)) return pem;
    if (attempt === 10) throw new SshGatewayError("host_key", "ssh2 made 10 unreadable ed25519 keys in a row");
  }
}

/** A key ssh2 cannot read that carries our comment: one generateHostKey's bug made before it checked. */
function isUnreadableKeyOfOurs(pem: string): boolean {
  if (!(ssh2.utils.parseKey(pem) instanceof Error)) return false;
  const body = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  return Buffer.from(body, "base64").includes(KEY_COMMENT);
}

function hostKeyError(path: string, why: string, cause?: unknown): SshGatewayError {
  const detail = cause instanceof Error ? `: ${cause.message}` : "";
  return new SshGatewayError("host_key", `SSH host key ${path} ${why}${detail}`, { cause });
}
