/** CPU and memory of processes, read from /proc (Linux), sampled while the bench runs. */
import { readdirSync, readFileSync } from "node:fs";
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat, 100 on every Linux the kernel exports it for. */
const CLOCK_TICKS_PER_S = 100;

/**
 * utime + stime of one process, in seconds; with `reaped`, plus cutime + cstime (its children
 * that have exited). Undefined when it is gone.
 */
export function cpuSeconds(pid: number, reaped = false): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // the name may hold spaces
    const own = Number(f[11]) + Number(f[12]); // fields 14 and 15 of proc(5)
    return (own + (reaped ? Number(f[13]) + Number(f[14]) : 0)) / CLOCK_TICKS_PER_S;
  } catch {
    return undefined;
  }
}

/** VmRSS in MiB. */
export function rssMiB(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Summed CPU seconds of every process whose name is `comm`, those that exited included (the
 * PostgreSQL server: the postmaster's reaped children are its backends that ended).
 */
export function cpuSecondsByName(comm: string): number {
  let sum = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() !== comm) continue;
    } catch {
      continue;
    }
    sum += cpuSeconds(Number(entry), true) ?? 0;
  }
  return sum;
}

/** Busy and total CPU seconds of the whole machine (all cores), from /proc/stat. */
export function machineCpuSeconds(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number); // user nice system idle iowait irq softirq steal
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: (total - idle) / CLOCK_TICKS_PER_S, total: total / CLOCK_TICKS_PER_S };
}

export interface CpuWindow {
  /** Percent of one core (200 = both cores of a 2-core machine). */
  hubCpuPct: number;
  benchCpuPct: number;
  pgCpuPct: number;
  /** Everything else on the machine (other users' builds, tests...): it competes for the same cores. */
  otherCpuPct: number;
  hubRssPeakMiB: number;
  hubRssEndMiB: number;
  benchRssEndMiB: number;
  /** The bench's own event-loop delay: when it is high, the simulated nodes lag, not the hub. */
  benchLoopP99Ms: number;
}

/** Samples the hub's RSS every second between start() and stop(); CPU from the two ends. */
export class ProcWindow {
  private readonly t0 = performance.now();
  private readonly hub0: number;
  private readonly bench0 = process.cpuUsage();
  private readonly pg0: number;
  private readonly machine0 = machineCpuSeconds();
  private peak = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly loop: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });

  constructor(
    private readonly hubPid: number,
    private readonly withPg: boolean,
  ) {
    this.hub0 = cpuSeconds(hubPid) ?? 0;
    this.pg0 = withPg ? cpuSecondsByName("postgres") : 0;
    this.timer = setInterval(() => (this.peak = Math.max(this.peak, rssMiB(hubPid) ?? 0)), 1_000);
    this.loop.enable();
  }

  stop(): CpuWindow {
    clearInterval(this.timer);
    this.loop.disable();
    const s = (performance.now() - this.t0) / 1000;
    const bench = process.cpuUsage(this.bench0);
    const end = rssMiB(this.hubPid) ?? 0;
    const hubCpuPct = (((cpuSeconds(this.hubPid) ?? this.hub0) - this.hub0) / s) * 100;
    const benchCpuPct = ((bench.user + bench.system) / 1e6 / s) * 100;
    const pgCpuPct = this.withPg ? ((cpuSecondsByName("postgres") - this.pg0) / s) * 100 : 0;
    const machineBusyPct = ((machineCpuSeconds().busy - this.machine0.busy) / s) * 100;
    return {
      hubCpuPct,
      benchCpuPct,
      pgCpuPct,
      otherCpuPct: Math.max(0, machineBusyPct - hubCpuPct - benchCpuPct - pgCpuPct),
      hubRssPeakMiB: Math.max(this.peak, end),
      hubRssEndMiB: end,
      benchRssEndMiB: process.memoryUsage().rss / 1024 ** 2,
      benchLoopP99Ms: this.loop.count > 0 ? this.loop.percentile(99) / 1e6 : NaN, // no sample: the loop never turned
    };
  }
}
