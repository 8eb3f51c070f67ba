import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
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
  if (pem === undefined) {
    const created = await generateEd25519();
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

function generateEd25519(): Promise<string> {
  return new Promise((resolve, reject) => {
    ssh2.utils.generateKeyPair("ed25519", { comment: "gpunode-ssh-gateway" }, (err, pair) => (err ? reject(err) : resolve(pair.private)));
  });
}

function hostKeyError(path: string, why: string, cause?: unknown): SshGatewayError {
  const detail = cause instanceof Error ? `: ${cause.message}` : "";
  return new SshGatewayError("host_key", `SSH host key ${path} ${why}${detail}`, { cause });
}
