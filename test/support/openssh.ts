import { execFile, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
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

export interface ClientOptions {
  input?: string;
  timeoutMs?: number;
  /** OpenSSH's LogLevel. ERROR by default (quiet); INFO is a stock client's default and shows banners. */
  logLevel?: "ERROR" | "INFO";
}

/** ssh takes the first value given for an option: LogLevel must be set here, not appended. */
const clientOptions = (logLevel = "ERROR"): string[] => [
  "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", `LogLevel=${logLevel}`, "-o", "ConnectTimeout=10",
];

/** Runs the real OpenSSH client (ssh, scp or sftp) and reports how it ended. */
export function runClient(program: "ssh" | "scp" | "sftp", args: string[], opts: ClientOptions = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const child = execFile(program, [...clientOptions(opts.logLevel), ...args], { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : 255) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(opts.input);
  });
}

/** `ssh -p port user@127.0.0.1 command` with the key. */
export function sshExec(key: SshKey, port: number, user: string, command: string, input?: string): Promise<Ran> {
  return runClient("ssh", ["-i", key.privateKeyPath, "-p", String(port), `${user}@127.0.0.1`, command], { input });
}

export interface Forward {
  /** Ends the session (its command reads one line) and resolves with what the client printed. */
  close(): Promise<Ran>;
}

/**
 * `ssh -L localPort:forwardTo` running `command; echo ready; read x`: resolves once "ready" is
 * printed, i.e. the local forward listens (OpenSSH opens it before the session) and the command ran.
 */
export async function sshForward(key: SshKey, port: number, user: string, localPort: number, forwardTo: string, command: string, opts: Pick<ClientOptions, "logLevel" | "timeoutMs"> = {}): Promise<Forward> {
  const child = spawn("ssh", [...clientOptions(opts.logLevel), "-i", key.privateKeyPath, "-p", String(port), "-L", `127.0.0.1:${localPort}:${forwardTo}`, `${user}@127.0.0.1`, `${command} && echo ready; read x`], {
    stdio: ["pipe", "pipe", "pipe"],
    timeout: opts.timeoutMs ?? 30_000,
  });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const closed = once(child, "close") as Promise<[number | null]>;
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes("ready")) resolve();
    });
    void closed.then(([code]) => reject(new Error(`ssh -L ended (code ${code}) before "ready": ${stderr}`)));
  });
  return {
    close: async () => {
      child.stdin.end("done\n");
      const [code] = await closed;
      return { code: code ?? 255, stdout, stderr };
    },
  };
}
