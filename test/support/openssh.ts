import { execFile, execFileSync } from "node:child_process";
import { join } from "node:path";

export interface SshKey {
  privateKeyPath: string;
  publicKey: string;
}

/** A fresh ed25519 key pair made by the real ssh-keygen. */
export async function sshKeypair(dir: string, name: string): Promise<SshKey> {
  const path = join(dir, name);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path]);
  const { readFile } = await import("node:fs/promises");
  return { privateKeyPath: path, publicKey: (await readFile(`${path}.pub`, "utf8")).trim() };
}

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

const CLIENT_OPTIONS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"];

/** Runs the real OpenSSH client (ssh, scp or sftp) and reports how it ended. */
export function runClient(program: "ssh" | "scp" | "sftp", args: string[], input?: string, timeoutMs = 30_000): Promise<Ran> {
  return new Promise((resolve) => {
    const child = execFile(program, [...CLIENT_OPTIONS, ...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : 255) : 0;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

/** `ssh -p port user@127.0.0.1 command` with the key. */
export function sshExec(key: SshKey, port: number, user: string, command: string, input?: string): Promise<Ran> {
  return runClient("ssh", ["-i", key.privateKeyPath, "-p", String(port), `${user}@127.0.0.1`, command], input);
}
