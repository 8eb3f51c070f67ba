import { execFile } from "node:child_process";

/**
 * The NVIDIA Container Toolkit's version ("1.17.8"), from `nvidia-ctk --version` or, on older
 * installs, `nvidia-container-cli --version`; "" when neither is installed or answers. The hub
 * places no rental on a toolkit with a known container escape, so the node says which it has.
 */
export async function readContainerToolkitVersion(opts: { timeoutMs: number; signal?: AbortSignal }): Promise<string> {
  for (const tool of ["nvidia-ctk", "nvidia-container-cli"]) {
    const out = await run(tool, opts);
    const version = /(\d+\.\d+\.\d+)/.exec(out)?.[1];
    if (version) return version;
  }
  return "";
}

function run(tool: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<string> {
  return new Promise((resolve) => {
    execFile(tool, ["--version"], { timeout: opts.timeoutMs, signal: opts.signal, env: { ...process.env, LC_ALL: "C" } }, (err, stdout) => resolve(err ? "" : stdout));
  });
}

/** -1, 0 or 1 as version a is older than, the same as, or newer than b (dotted numbers; a missing part is 0). */
export function compareVersions(a: string, b: string): number {
  const [pa, pb] = [a, b].map((v) => v.split(/[.-]/).map((p) => Number.parseInt(p, 10) || 0));
  for (let i = 0; i < Math.max(pa!.length, pb!.length); i++) {
    const d = (pa![i] ?? 0) - (pb![i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}
