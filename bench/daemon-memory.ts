/**
 * Idle memory of a CPU-only node-daemon: a real daemon process against a real hub, on the real
 * Docker engine, its RSS once it has sent a few heartbeats and settled.
 *
 *   npm run bench:daemon-memory [-- --modes embedded,external --samples 10 --interval 2s]
 *
 * (bench/ is compiled with tsconfig.bench.json: see bench/README.md.) The hub (rental-hub) and,
 * for -ssh-gateway external, node-ssh-gateway run as child processes too; only the daemon's own
 * process is measured. Each mode runs the daemon twice on the same state: a first start (no
 * certificate: it signs in to the hub) and a restart (it holds a valid certificate), the case of
 * every start after the first. The daemon runs with the flags `npm start` gives it (metrics on),
 * with NVML and nvidia-smi out of reach so that it runs as a CPU-only node.
 *
 * RSS is VmRSS of /proc/<pid>/status, the median of --samples readings --sample-every apart,
 * after the first heartbeat, --heartbeats more heartbeat intervals and --settle. The settle time
 * matters: V8 keeps the heap it grew while starting until its memory reducer runs on an idle
 * process, some 10-50 s later (~118 MiB RSS before it ran, ~92 after, on the daemon before
 * issue 13). Unless --plain, the daemon also runs with a small preload (bench/daemon-memory/report-memory.ts) that prints
 * process.memoryUsage() on SIGUSR2, read after the samples, for where the memory goes.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Wallet } from "ethers";
import { sleep } from "../internal/util/abort.js";
import { parseDuration } from "../internal/util/duration.js";
import { reserveFreePort } from "../internal/util/net.js";
import { type LogLine, Program } from "../test/support/program.js";

/** The goal for a CPU-only node at idle. */
const GOAL_MIB = 80;

const { values } = parseArgs({
  options: {
    modes: { type: "string", default: "embedded,external" },
    samples: { type: "string", default: "10" },
    "sample-every": { type: "string", default: "500ms" },
    interval: { type: "string", default: "2s" },
    heartbeats: { type: "string", default: "3" },
    settle: { type: "string", default: "60s" },
    plain: { type: "boolean", default: false },
  },
});
const opts = {
  modes: values.modes.split(",").map((m) => m.trim()) as Mode[],
  samples: Number(values.samples),
  sampleEveryMs: parseDuration(values["sample-every"]),
  intervalMs: parseDuration(values.interval),
  heartbeats: Number(values.heartbeats),
  settleMs: parseDuration(values.settle),
  breakdown: !values.plain,
};
type Mode = "embedded" | "external";
for (const m of opts.modes) if (m !== "embedded" && m !== "external") throw new Error(`--modes: unknown mode ${m} (embedded, external)`);

/** Built by the same `tsc -p tsconfig.bench.json` as this file. */
const script = (rel: string): string => fileURLToPath(new URL(`../${rel}`, import.meta.url));
const HUB = script("cmd/rental-hub/main.js");
const DAEMON = script("cmd/node-daemon/main.js");
const GATEWAY = script("cmd/node-ssh-gateway/main.js");
const PRELOAD = script("bench/daemon-memory/report-memory.js");

interface Status {
  rss: number;
  anon: number;
  file: number;
  shmem: number;
  hwm: number;
}

/** VmRSS and its parts (RssAnon, RssFile, RssShmem) and VmHWM, in MiB. */
function procStatus(pid: number): Status {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(text)?.[1] ?? Number.NaN) / 1024;
  return { rss: kb("VmRSS"), anon: kb("RssAnon"), file: kb("RssFile"), shmem: kb("RssShmem"), hwm: kb("VmHWM") };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};
const mib = (bytes: unknown): string => (typeof bytes === "number" ? `${(bytes / 2 ** 20).toFixed(1)}` : "?");

interface Run {
  label: string;
  gpuSource: string;
  rss: number[];
  status: Status;
  usage?: LogLine;
}

async function measureDaemon(label: string, args: string[]): Promise<Run> {
  const env = {
    // CPU-only: no NVML library and no nvidia-smi on PATH.
    NODE_DAEMON_NVML_LIBRARY: "/nonexistent/libnvidia-ml.so.1",
    PATH: "/usr/sbin:/usr/bin:/sbin:/bin".split(":").filter((d) => !existsSync(join(d, "nvidia-smi"))).join(":"),
    NODE_OPTIONS: opts.breakdown ? `--import=${PRELOAD}` : "",
  };
  const daemon = new Program("node-daemon", DAEMON, args, env);
  try {
    const gpu = await daemon.waitFor((l) => typeof l.gpuSource === "string", "the GPU source line", 60_000);
    await daemon.waitFor((l) => /^heartbeat #\d+ sent/.test(l.msg), "the first heartbeat", 120_000);
    await sleep(opts.heartbeats * opts.intervalMs + opts.settleMs);
    const pid = daemon.proc.pid ?? 0;
    const rss: number[] = [];
    for (let i = 0; i < opts.samples; i++) {
      if (i > 0) await sleep(opts.sampleEveryMs);
      rss.push(procStatus(pid).rss);
    }
    const status = procStatus(pid);
    let usage: LogLine | undefined;
    if (opts.breakdown) {
      const next = daemon.waitForNext((l) => l.msg === "memory usage", "the memory usage line", 5_000);
      daemon.proc.kill("SIGUSR2");
      usage = await next;
    }
    return { label, gpuSource: String(gpu.gpuSource), rss, status, usage };
  } finally {
    const { code, signal } = await daemon.kill("SIGTERM");
    if (code !== 0 && signal === null) console.error(`${label}: the daemon exited with ${code}; last lines:\n${daemon.tail()}`);
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "daemon-memory-"));
  const programs: Program[] = [];
  const runs: Run[] = [];
  try {
    const hub = new Program("rental-hub", HUB, [
      "--data-dir", join(dir, "hub"),
      "--grpc-listen", "127.0.0.1:0",
      "--http-listen", "127.0.0.1:0",
      "--public-host", "127.0.0.1,localhost",
      "--heartbeat-interval", `${opts.intervalMs}ms`,
      "--metrics-listen=",
    ]);
    programs.push(hub);
    const ready = await hub.waitFor((l) => l.event === "ready", "the hub's ready line", 60_000);
    // The modes side by side (each its own wallet, state and daemon): RSS is per process, and it halves the wait.
    const perMode = await Promise.all(
      opts.modes.map(async (mode): Promise<Run[]> => {
        const node = join(dir, mode);
        const wallet = Wallet.createRandom();
        const keyFile = join(dir, `${mode}.key`);
        await writeFile(keyFile, wallet.privateKey, { mode: 0o600 });
        const stateDir = join(node, "state");
        if (mode === "external") {
          const gateway = new Program("node-ssh-gateway", GATEWAY, ["-state-dir", stateDir]);
          programs.push(gateway);
          await gateway.waitFor((l) => l.msg.startsWith("node-ssh-gateway ready"), "the gateway's ready line", 30_000);
        }
        const [apiPort, metricsPort] = [await reserveFreePort("127.0.0.1"), await reserveFreePort("127.0.0.1")];
        // The flags `npm start` (internal/localstack) gives the daemon, and -ssh-gateway.
        const args = [
          "--hub", `127.0.0.1:${String(ready.grpcPort)}`,
          "--hub-http", String(ready.httpUrl),
          "--hub-ca-fingerprint", String(ready.caFingerprint),
          "--host", "127.0.0.1",
          "--private-key-file", keyFile,
          "--cert-dir", join(node, "certs"),
          "--state-dir", stateDir,
          "--ssh-listen-host", "127.0.0.1",
          "--api-port", String(apiPort),
          "--api-listen-host", "127.0.0.1",
          "--metrics-listen", `127.0.0.1:${metricsPort}`,
          "--ssh-gateway", mode,
        ];
        const out: Run[] = [];
        for (const start of ["first start (signs in)", "restart (holds a certificate)"]) {
          const label = `${mode}, ${start}`;
          console.error(`measuring: ${label} ...`);
          out.push(await measureDaemon(label, args));
        }
        return out;
      }),
    );
    runs.push(...perMode.flat());
  } finally {
    for (const p of programs.reverse()) await p.kill("SIGTERM");
    await rm(dir, { recursive: true, force: true });
  }

  const w = Math.max(...runs.map((r) => r.label.length));
  console.log(`idle RSS of node-daemon (${process.version}), median of ${opts.samples} readings of /proc/<pid>/status VmRSS, goal <= ${GOAL_MIB} MiB`);
  console.log(`${"-ssh-gateway, start".padEnd(w)}  gpus   RSS MiB  (min-max)      anon   file   peak  goal`);
  for (const r of runs) {
    const m = median(r.rss);
    const range = `(${Math.min(...r.rss).toFixed(1)}-${Math.max(...r.rss).toFixed(1)})`;
    const goal = m <= GOAL_MIB ? "met" : `+${(m - GOAL_MIB).toFixed(1)}`;
    console.log(
      `${r.label.padEnd(w)}  ${r.gpuSource.padEnd(5)}  ${m.toFixed(1).padStart(6)}  ${range.padEnd(13)}  ${r.status.anon.toFixed(1).padStart(5)}  ${r.status.file.toFixed(1).padStart(5)}  ${r.status.hwm.toFixed(1).padStart(5)}  ${goal}`,
    );
  }
  if (opts.breakdown) {
    console.log("\nprocess.memoryUsage() of the same daemons (MiB; rss includes the node binary's own pages):");
    console.log(`${"".padEnd(w)}    rss  heapTotal  heapUsed  external  arrayBuffers`);
    for (const r of runs) {
      const u = r.usage ?? ({} as LogLine);
      console.log(`${r.label.padEnd(w)}  ${mib(u.rss).padStart(5)}  ${mib(u.heapTotal).padStart(9)}  ${mib(u.heapUsed).padStart(8)}  ${mib(u.external).padStart(8)}  ${mib(u.arrayBuffers).padStart(12)}`);
    }
  }
}

await main();
