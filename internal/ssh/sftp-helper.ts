import { execFile } from "node:child_process";
import { access, chmod, constants, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { SshGatewayError } from "./errors.js";

/** Where rental containers see the helper folder (read-only bind mount). */
export const SFTP_MOUNT_POINT = "/.gpunode-helper";

/** Where distributions put OpenSSH's sftp-server (Debian/Ubuntu first, then Fedora/RHEL, Arch, Alpine). */
export const SFTP_SERVER_CANDIDATES = [
  "/usr/lib/openssh/sftp-server",
  "/usr/libexec/openssh/sftp-server",
  "/usr/libexec/sftp-server",
  "/usr/lib/ssh/sftp-server",
  "/usr/lib/sftp-server",
] as const;

/** Written last by prepareSftpHelper; the gateway reads the command from it. */
const MANIFEST_FILE = "sftp-helper.json";
const LDD_TIMEOUT_MS = 10_000;

export interface SftpHelper {
  mountPoint: string;
  /** argv that runs sftp-server inside any container with the folder mounted at mountPoint. */
  command: string[];
  /** argv that runs OpenSSH's scp there: legacy `scp -O` asks the server to run `scp -t|-f`, which images rarely carry. */
  scpCommand?: string[];
}

/** OpenSSH's scp (Debian: openssh-client), bundled beside sftp-server when the host has it. */
export const SCP_CANDIDATES = ["/usr/bin/scp"] as const;

export interface PrepareSftpHelperOptions {
  /** The sftp-server to copy; the first of `candidates` that exists when absent. */
  sftpServerPath?: string;
  /** Where to look for sftp-server; SFTP_SERVER_CANDIDATES when absent. */
  candidates?: readonly string[];
  /** Where to look for scp; SCP_CANDIDATES when absent (none found: legacy scp stays unavailable). */
  scpCandidates?: readonly string[];
}

/**
 * Copies the host's OpenSSH sftp-server with the libc and dynamic loader it needs into dir, which
 * is then bind-mounted read-only into rental containers at SFTP_MOUNT_POINT. Returns the exec
 * command that runs it inside any container (LOADER --library-path DIR DIR/sftp-server): the
 * image's own libc (or lack of one: busybox, musl) never matters. Files are replaced one by one
 * with a rename, so containers already holding the folder see the new set without a remount.
 */
export async function prepareSftpHelper(dir: string, opts: PrepareSftpHelperOptions = {}): Promise<SftpHelper> {
  const server = opts.sftpServerPath ?? (await findSftpServer(opts.candidates ?? SFTP_SERVER_CANDIDATES));
  const deps = await sharedLibraries(server);
  const libDir = join(dir, "lib");
  await mkdir(libDir, { recursive: true });
  // Containers may exec as any user: the folder must be readable and searchable by all.
  await chmod(dir, 0o755);
  await chmod(libDir, 0o755);
  await installFile(server, join(dir, "sftp-server"));
  const scp = await findExecutable(opts.scpCandidates ?? SCP_CANDIDATES);
  const scpDeps = scp ? await sharedLibraries(scp) : undefined;
  // Both binaries come from the same OpenSSH build: one loader, and the libraries of either.
  const libraries = new Map([...deps.libraries, ...(scpDeps?.libraries ?? [])].map((l) => [l.name, l.path]));
  for (const [name, path] of libraries) await installFile(path, join(libDir, name));
  const inside = (p: string): string => `${SFTP_MOUNT_POINT}/${p}`;
  const run = (binary: string, loader: string | undefined): string[] =>
    loader ? [inside(`lib/${basename(loader)}`), "--library-path", inside("lib"), inside(binary)] : [inside(binary)]; // a static binary needs nothing else
  const command = run("sftp-server", deps.loader);
  if (deps.loader) await installFile(deps.loader, join(libDir, basename(deps.loader)));
  if (scp) await installFile(scp, join(dir, "scp"));
  if (scpDeps?.loader && scpDeps.loader !== deps.loader) await installFile(scpDeps.loader, join(libDir, basename(scpDeps.loader)));
  const helper: SftpHelper = { mountPoint: SFTP_MOUNT_POINT, command, ...(scp ? { scpCommand: run("scp", scpDeps?.loader) } : {}) };
  await writeAtomically(join(dir, MANIFEST_FILE), `${JSON.stringify({ ...helper, source: server }, null, 2)}\n`, 0o644);
  return helper;
}

/** The helper a previous prepareSftpHelper(dir) built; throws "sftp_helper" when there is none. */
export async function readSftpHelper(dir: string): Promise<SftpHelper> {
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new SshGatewayError("sftp_helper", `no SFTP helper in ${dir} (${MANIFEST_FILE} unreadable): run prepareSftpHelper first`, { cause: err });
  }
  const m = JSON.parse(text) as Partial<SftpHelper>;
  if (typeof m.mountPoint !== "string" || !Array.isArray(m.command) || !m.command.every((c) => typeof c === "string") || m.command.length === 0) {
    throw new SshGatewayError("sftp_helper", `${path} is not an SFTP helper manifest`);
  }
  const scp = Array.isArray(m.scpCommand) && m.scpCommand.every((c) => typeof c === "string") ? m.scpCommand : undefined;
  return { mountPoint: m.mountPoint, command: m.command, ...(scp ? { scpCommand: scp } : {}) };
}

async function findExecutable(candidates: readonly string[]): Promise<string | undefined> {
  for (const p of candidates) {
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      // not here; try the next
    }
  }
  return undefined;
}

async function findSftpServer(candidates: readonly string[]): Promise<string> {
  for (const p of candidates) {
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      // not at this location; try the next
    }
  }
  throw new SshGatewayError(
    "sftp_helper",
    `OpenSSH's sftp-server is not installed (looked in ${candidates.join(", ")}): ` +
      "install the Debian package openssh-sftp-server (apt-get install openssh-sftp-server); scp and sftp need it",
  );
}

interface SharedLibraries {
  /** The ELF interpreter, absent for a static binary. */
  loader?: string;
  libraries: Array<{ name: string; path: string }>;
}

/** What `ldd` says the binary loads; "not a dynamic executable" means a static binary. */
async function sharedLibraries(binary: string): Promise<SharedLibraries> {
  let out: string;
  try {
    out = await run("ldd", [binary]);
  } catch (err) {
    const text = `${(err as { stdout?: string }).stdout ?? ""}${(err as { stderr?: string }).stderr ?? ""}`;
    if (/not a dynamic executable|statically linked/.test(text)) return { libraries: [] };
    throw new SshGatewayError("sftp_helper", `cannot list the libraries of ${binary} with ldd: ${text.trim() || String(err)}`, { cause: err });
  }
  return parseLdd(out, binary);
}

/** Parses glibc's and musl's ldd output. Exported for the table test. */
export function parseLdd(out: string, binary: string): SharedLibraries {
  const result: SharedLibraries = { libraries: [] };
  for (const raw of out.split("\n")) {
    const line = raw.trim();
    if (line === "" || /statically linked/.test(line)) continue;
    const missing = /^(\S+)\s+=>\s+not found$/.exec(line);
    if (missing) throw new SshGatewayError("sftp_helper", `${binary} needs ${missing[1]}, which is not installed`);
    const lib = /^(\S+)\s+=>\s+(\S+)(?:\s+\(0x[0-9a-f]+\))?$/.exec(line);
    if (lib?.[1] && lib[2]) {
      // Some ldd builds name the loader by its absolute path with "=>"; it is the loader, not a library.
      if (lib[1].startsWith("/") && lib[2].startsWith("/")) result.loader = lib[2];
      // musl's ldd lists the loader as the libc too ("libc.musl-x86_64.so.1 => /lib/ld-musl-x86_64.so.1").
      else if (lib[2].startsWith("/")) result.libraries.push({ name: lib[1], path: lib[2] });
      continue;
    }
    const loader = /^(\/\S+)\s+\(0x[0-9a-f]+\)$/.exec(line);
    if (loader?.[1]) result.loader = loader[1];
    // anything else (linux-vdso.so.1, which the kernel provides) needs no file
  }
  if (result.libraries.length > 0 && !result.loader) throw new SshGatewayError("sftp_helper", `ldd named no dynamic loader for ${binary}`);
  return result;
}

/** Copies src (following links) to dest via a temporary name and a rename, mode 0755. */
async function installFile(src: string, dest: string): Promise<void> {
  await writeAtomically(dest, await readFile(src), 0o755);
}

async function writeAtomically(dest: string, data: string | Buffer, mode: number): Promise<void> {
  const tmp = `${dest}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, data, { mode });
    await chmod(tmp, mode); // writeFile's mode passes through the umask
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new SshGatewayError("sftp_helper", `cannot write ${dest}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: LDD_TIMEOUT_MS, env: { ...process.env, LC_ALL: "C" } }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stdout, stderr }));
      else resolve(stdout);
    });
  });
}
