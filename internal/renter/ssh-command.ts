import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Command } from "commander";
import { action } from "./action.js";
import { CliError } from "./cli-error.js";
import { HubApi, type RentalView } from "./hub-api.js";
import { configDir, SessionStore } from "./session-store.js";

/** OpenSSH's fingerprint of a public key blob: SHA256:<base64, unpadded>. */
export function sshFingerprint(base64Blob: string): string {
  return `SHA256:${createHash("sha256").update(Buffer.from(base64Blob, "base64")).digest("base64").replace(/=+$/, "")}`;
}

/**
 * A known_hosts file holding exactly the rental's host key, after checking it against the
 * fingerprint the hub vouches for: ssh then checks the key strictly and never asks "yes/no".
 */
export async function pinnedKnownHosts(r: RentalView, dir: string): Promise<string> {
  const ssh = r.ssh;
  if (!ssh?.hostKeyFingerprint) throw new CliError("no_ssh", `rental ${r.id} has no SSH access (${r.status})`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `known_hosts.${r.id}`);
  // The hub hands out the key itself (checked against the fingerprint there): nothing to fetch.
  if (r.sshKnownHosts) {
    await writeFile(file, `${r.sshKnownHosts}\n`, { mode: 0o600 });
    return file;
  }
  const { stdout } = await promisify(execFile)("ssh-keyscan", ["-p", String(ssh.port), "-T", "5", ssh.host], { timeout: 15_000 }).catch((err: Error) => {
    throw new CliError("ssh_unreachable", `could not read the rental's host key from ${ssh.host}:${ssh.port}: ${err.message}`);
  });
  const entries = stdout.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.trim().split(/\s+/));
  const match = entries.find((e) => e[2] && sshFingerprint(e[2]) === ssh.hostKeyFingerprint);
  if (!match) throw new CliError("host_key_mismatch", `the SSH server at ${ssh.host}:${ssh.port} does not present the host key the hub vouches for (${ssh.hostKeyFingerprint}): refusing to connect`);
  await writeFile(file, `${match.join(" ")}\n`, { mode: 0o600 });
  return file;
}

/** OpenSSH's options that take a value (ssh(1)): "-L 8888:localhost:8888" is one option, not a command. */
const TAKES_VALUE = new Set("BbcDEeFIiJLlmOoPpQRSWw");

/** ssh's own options, then the remote command (the first word that is not an option or its value). */
export function splitSshArgs(args: string[]): { options: string[]; remote: string[] } {
  const list = args[0] === "--" ? args.slice(1) : args;
  let i = 0;
  while (i < list.length) {
    const a = list[i] ?? "";
    if (a === "--") return { options: list.slice(0, i), remote: list.slice(i + 1) };
    if (!a.startsWith("-") || a === "-") break;
    const letter = a[1] ?? "";
    i += TAKES_VALUE.has(letter) && a.length === 2 ? 2 : 1;
  }
  return { options: list.slice(0, i), remote: list.slice(i) };
}

export function addSshCommand(program: Command): void {
  program
    .command("ssh")
    .description("open a shell in a rental with OpenSSH, its host key pinned to the one the hub vouches for; anything after -- goes to ssh (-L, a command)")
    .argument("<rental>", "rental id")
    .argument("[ssh-args...]", "passed to ssh, after --")
    .addHelpText("after", "\nExamples:\n  gpu-rent ssh 5f0c...\n  gpu-rent ssh 5f0c... -- -L 8888:localhost:8888\n  gpu-rent ssh 5f0c... -- nvidia-smi")
    .action(
      action(async ({ args }) => {
        const [id = "", ...rest] = args;
        const s = await new SessionStore().require();
        const r = await HubApi.of(s).call<RentalView>("GET", `/v1/rentals/${encodeURIComponent(id)}`);
        if (r.status !== "running" || !r.ssh) throw new CliError("not_running", `rental ${r.id} is ${r.status}: nothing to ssh into`);
        const knownHosts = await pinnedKnownHosts(r, join(configDir(), "known_hosts.d"));
        const { options, remote } = splitSshArgs(rest);
        const finalArgv = ["-p", String(r.ssh.port), "-o", `UserKnownHostsFile=${knownHosts}`, "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=/dev/null", ...options, `${r.ssh.user}@${r.ssh.host}`, ...remote];
        const code = await new Promise<number>((resolve, reject) => {
          const child = spawn("ssh", finalArgv, { stdio: "inherit" });
          child.on("error", (err) => reject(new CliError("ssh_missing", `could not run ssh (OpenSSH's client): ${err.message}`)));
          child.on("exit", (c, sig) => resolve(c ?? (sig ? 128 + 1 : 1)));
        });
        process.exitCode = code;
      }),
    );
}
