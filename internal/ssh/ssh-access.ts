import { createHash } from "node:crypto";
import ssh2 from "ssh2";
import { SshGatewayError } from "./errors.js";
import { isPasswordHash } from "./password-hash.js";

/** Who may log in to one rental's SSH listener, and where their sessions land. */
export interface SshAccess {
  rentalId: string;
  containerId: string;
  /** OpenSSH public key lines (ssh-ed25519/ecdsa/rsa) that may log in. */
  authorizedKeys: string[];
  /** Optional: only a hash is ever held (see password-hash.ts); never the password. */
  passwordHash?: string;
  /** The login name renters type; any other name is refused. Default "renter". */
  user: string;
  /** User to exec as inside the container (default "root"; the container is unprivileged with dropped caps). */
  execUser?: string;
  /** Container's bridge IP for `ssh -L` (direct-tcpip); -L refused with a clear message when absent. */
  containerIp?: string;
}

export const DEFAULT_LOGIN_USER = "renter";
export const DEFAULT_EXEC_USER = "root";

/** Key types renters may use. DSA is obsolete; certificates and FIDO keys are not supported. */
const ALLOWED_KEY_TYPES: ReadonlySet<string> = new Set([
  "ssh-ed25519",
  "ssh-rsa",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
]);

export interface AuthorizedKey {
  type: string;
  /** The public key in SSH wire format: what a client's publickey request carries. */
  blob: Buffer;
  /** SHA256:… as OpenSSH prints it, for logs. */
  fingerprint: string;
  verify(data: Buffer, signature: Buffer, hashAlgo?: string): boolean;
}

/** SshAccess checked and parsed once, as the listener uses it on every login. */
export interface ResolvedAccess {
  rentalId: string;
  containerId: string;
  keys: AuthorizedKey[];
  passwordHash?: string;
  user: string;
  execUser: string;
  containerIp?: string;
}

/** Throws SshGatewayError "invalid_access" naming the first unusable part. */
export function resolveAccess(access: SshAccess): ResolvedAccess {
  const bad = (why: string): never => {
    throw new SshGatewayError("invalid_access", `SSH access for rental ${access.rentalId}: ${why}`);
  };
  if (!access.rentalId) bad("rentalId is empty");
  if (!access.containerId) bad("containerId is empty");
  const user = access.user || DEFAULT_LOGIN_USER;
  if (!/^[A-Za-z0-9._][A-Za-z0-9._-]{0,31}$/.test(user)) bad(`login name ${JSON.stringify(user)} is not a valid user name`);
  if (access.passwordHash !== undefined && !isPasswordHash(access.passwordHash)) bad("passwordHash is not a scrypt hash from hashPassword()");
  let keys: AuthorizedKey[] = [];
  try {
    keys = parseAuthorizedKeys(access.authorizedKeys);
  } catch (err) {
    bad(err instanceof Error ? err.message : String(err));
  }
  if (keys.length === 0 && access.passwordHash === undefined) bad("no authorized key and no password: nobody could log in");
  return {
    rentalId: access.rentalId,
    containerId: access.containerId,
    keys,
    ...(access.passwordHash !== undefined && { passwordHash: access.passwordHash }),
    user,
    execUser: access.execUser || DEFAULT_EXEC_USER,
    ...(access.containerIp && { containerIp: access.containerIp }),
  };
}

/**
 * OpenSSH authorized_keys lines without options ("ssh-ed25519 AAAA… comment"); blank lines and
 * "#" comments are skipped. Throws an Error naming the first line that is not a usable public key.
 */
export function parseAuthorizedKeys(lines: readonly string[]): AuthorizedKey[] {
  const keys: AuthorizedKey[] = [];
  lines
    .flatMap((l) => l.split(/\r?\n/))
    .forEach((raw, i) => {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) return;
      const type = line.split(/\s+/, 1)[0] ?? "";
      const where = `authorized key ${i + 1} (${JSON.stringify(line.length > 40 ? `${line.slice(0, 40)}…` : line)})`;
      if (!ALLOWED_KEY_TYPES.has(type)) {
        throw new Error(`${where}: key type ${JSON.stringify(type)} is not supported (use ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa; no options prefix)`);
      }
      const parsed = ssh2.utils.parseKey(line);
      if (parsed instanceof Error) throw new Error(`${where}: ${parsed.message}`);
      if (parsed.isPrivateKey()) throw new Error(`${where}: this is a private key; give the .pub line`);
      const blob = parsed.getPublicSSH();
      keys.push({
        type: parsed.type,
        blob,
        fingerprint: sshFingerprint(blob),
        verify: (data, signature, hashAlgo) => parsed.verify(data, signature, hashAlgo) === true,
      });
    });
  return keys;
}

/** OpenSSH's SHA256 fingerprint of a public key in wire format: "SHA256:" + unpadded base64. */
export function sshFingerprint(publicBlob: Buffer): string {
  return `SHA256:${createHash("sha256").update(publicBlob).digest("base64").replace(/=+$/, "")}`;
}
