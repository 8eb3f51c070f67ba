import { execFile } from "node:child_process";

/** One `Key=value` line of a systemd unit file, in file order. */
export interface UnitEntry {
  section: string;
  key: string;
  value: string;
  line: number;
}

/** Parses a unit file's sections and assignments (comments and blank lines dropped; no line continuations used here). */
export function parseUnit(text: string): UnitEntry[] {
  const out: UnitEntry[] = [];
  let section = "";
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) return;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1] ?? "";
      return;
    }
    const eq = line.indexOf("=");
    if (eq <= 0) throw new Error(`line ${i + 1} is neither a section nor Key=value: ${line}`);
    out.push({ section, key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim(), line: i + 1 });
  });
  return out;
}

/** All values of Section/Key, in order. */
export function values(unit: UnitEntry[], section: string, key: string): string[] {
  return unit.filter((e) => e.section === section && e.key === key).map((e) => e.value);
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program and resolves with its exit code and output whatever the code; ENOENT rejects. */
export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 30_000, maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT") {
        reject(err);
        return;
      }
      const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
