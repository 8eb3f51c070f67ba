/**
 * Load on rental-hub: N simulated nodes, each with its own certificate and one gRPC stream over
 * mTLS, against a hub in a child process, on SQLite and on PostgreSQL.
 *
 *   npm run bench:hub-load -- --nodes 100,1000,5000,10000 --store sqlite,postgres --interval 30s --duration 20s
 *   npm run bench:hub-load -- --nodes 10000 --replicas 1,2     (replicas on PostgreSQL: see hub-load/replicas.ts)
 *
 * PostgreSQL: `bash test/setup/postgres.sh` (or HUB_TEST_DATABASE_URL); each run gets a fresh
 * schema, dropped at the end. See bench/README.md for what each column means.
 */
import { setMaxListeners } from "node:events";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { openHubStore } from "../internal/hub/store/open-store.js";
import { sleep } from "../internal/util/abort.js";
import { parseDuration } from "../internal/util/duration.js";
import { freshPostgresSchema } from "../test/support/postgres.js";
import { type Fleet, installCa, openOrMakeFleet, seedNodes } from "./hub-load/fleet.js";
import { FlushWatcher, type HeartbeatReader, postgresReader, sqliteReader } from "./hub-load/heartbeat-probe.js";
import { HubProcess } from "./hub-load/hub-process.js";
import { ProcWindow, type CpuWindow } from "./hub-load/proc-stats.js";
import { Renter } from "./hub-load/renter.js";
import { dash, emptyRow, f0, f1, pair, percentile, type Row, sideBySide, table } from "./hub-load/report.js";
import { DialGate, FleetCounters, FleetDriver, SimNode, waitConnected } from "./hub-load/sim-node.js";
import { type ReplicaRow, replicaTable, runReplicas } from "./hub-load/replicas.js";

type StoreKind = "sqlite" | "postgres";

const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: "100,1000,5000,10000" },
    store: { type: "string", default: "sqlite,postgres" },
    interval: { type: "string", default: "30s" },
    "stress-interval": { type: "string", default: "5s" },
    duration: { type: "string", default: "20s" },
    "max-seconds": { type: "string", default: "300" },
    gpus: { type: "string", default: "4" },
    "connect-concurrency": { type: "string", default: "200" },
    "connect-timeout": { type: "string", default: "60s" },
    "restart-timeout": { type: "string", default: "30s" },
    "sample-nodes": { type: "string", default: "10" },
    "probe-rate": { type: "string", default: "10" },
    "fleet-dir": { type: "string" },
    "hub-main": { type: "string" },
    "hub-log": { type: "string" },
    "hub-node-args": { type: "string" },
    "keep-going": { type: "boolean", default: false },
    replicas: { type: "string", default: "" },
  },
});

const opts = {
  nodes: values.nodes.split(",").map((v) => Number(v.trim())).filter((n) => Number.isInteger(n) && n > 0).sort((a, b) => a - b),
  stores: values.store.split(",").map((v) => v.trim()) as StoreKind[],
  intervalMs: parseDuration(values.interval),
  stressMs: values["stress-interval"] === "0" ? 0 : parseDuration(values["stress-interval"]),
  durationMs: parseDuration(values.duration),
  maxMs: Number(values["max-seconds"]) * 1000,
  gpus: Number(values.gpus),
  connectConcurrency: Number(values["connect-concurrency"]),
  connectTimeoutMs: parseDuration(values["connect-timeout"]),
  restartTimeoutMs: values["restart-timeout"] === "0" ? 0 : parseDuration(values["restart-timeout"]),
  sampleNodes: Number(values["sample-nodes"]),
  probeRate: Number(values["probe-rate"]),
  fleetDir: values["fleet-dir"],
  keepGoing: values["keep-going"],
  replicas: values.replicas.split(",").filter((v) => v.trim() !== "").map((v) => Number(v.trim())),
};
for (const r of opts.replicas) if (!Number.isInteger(r) || r < 1) throw new Error(`--replicas: ${r} is not a replica count (1, 2, ...)`);
for (const s of opts.stores) if (s !== "sqlite" && s !== "postgres") throw new Error(`--store: unknown store ${s} (sqlite, postgres)`);
if (opts.nodes.length === 0) throw new Error("--nodes: give at least one positive count, e.g. 100,1000");

/** The hub built by the same `tsc -p tsconfig.bench.json` as this file, unless --hub-main names another build. */
const HUB_MAIN = values["hub-main"] ?? fileURLToPath(new URL("../cmd/rental-hub/main.js", import.meta.url));
/** Heartbeats reach the store once per flush (HubOptions.heartbeatFlushMs, 5 s, not a flag). */
const HUB_FLUSH_MS = 5_000;
const SETTLE_MS = 3_000;
const STOP_GRACE_MS = 15_000;
/** A phase kept up when the hub absorbed this share of what was sent... */
const ABSORBED_SHARE = 0.9;
/** ...no heartbeat waited longer than this to be recorded, and no command took longer. */
const MAX_LAG_P99_MS = 1_000;
const MAX_CMD_P99_MS = 1_000;

const startedAt = Date.now();
const deadline = startedAt + opts.maxMs;
const budget = new AbortController();
const budgetTimer = setTimeout(() => budget.abort(new Error("--max-seconds reached")), opts.maxMs);
setMaxListeners(0, budget.signal);
process.once("SIGINT", () => budget.abort(new Error("interrupted")));
const log = (msg: string): void => console.error(`[${((Date.now() - startedAt) / 1000).toFixed(0).padStart(4)}s] ${msg}`);

/** Soft and hard RLIMIT_NOFILE of this process (the hub inherits it). */
function openFileLimit(): { soft: number; hard: number } {
  const m = /Max open files\s+(\S+)\s+(\S+)/.exec(readFileSync("/proc/self/limits", "utf8"));
  const n = (v: string | undefined): number => (v === undefined || v === "unlimited" ? Infinity : Number(v));
  return { soft: n(m?.[1]), hard: n(m?.[2]) };
}

function ephemeralPorts(): number {
  try {
    const [lo, hi] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    return (hi ?? 0) - (lo ?? 0) + 1;
  } catch {
    return Infinity;
  }
}

type PhaseKind = "ramp" | "steady" | "stress" | "restart";

interface PhaseResult {
  kind: PhaseKind;
  row: Row;
  problems: string[];
  cpu?: CpuWindow;
}

interface RunResult {
  store: StoreKind;
  nodes: number;
  phases: PhaseResult[];
  problems: string[];
  connectPerS: number;
}

/** Seconds a run of n nodes should take, from what the previous runs measured. */
function estimateMs(n: number, store: StoreKind, connectPerS: number): number {
  const seed = n * (store === "postgres" ? 1.4 : 0.6);
  const ramp = (n / connectPerS) * 1000;
  const phase = SETTLE_MS + opts.durationMs + 3_000;
  return seed + ramp + phase * (opts.stressMs > 0 ? 2 : 1) + opts.restartTimeoutMs + 10_000 + n * 3;
}

async function main(): Promise<void> {
  const limit = openFileLimit();
  const ports = ephemeralPorts();
  const fits = (n: number): boolean => n + 1_024 <= limit.soft && n + 1_024 <= ports;
  const tooMany = opts.nodes.filter((n) => !fits(n));
  console.log(`hub-load: ${availableParallelism()} cores, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB, Node ${process.version}, open-file limit ${limit.soft} (hard ${limit.hard}), ${ports} ephemeral ports`);
  if (tooMany.length > 0) {
    console.log(
      `open-file limit: ${limit.soft} is too low for ${tooMany.join(", ")} nodes (each simulated node is a socket here and one in the hub, plus ~1,000 spare).` +
        ` Raise it in the shell that runs the bench: \`ulimit -n ${Math.min(limit.hard, 65_536)}\`` +
        (limit.hard < (tooMany.at(-1) ?? 0) + 1_024 ? `; the hard limit (${limit.hard}) is too low as well: raise nofile in /etc/security/limits.conf or LimitNOFILE= of the unit, then log in again.` : ".") +
        (ports < (tooMany.at(-1) ?? 0) + 1_024 ? ` Ephemeral ports: widen net.ipv4.ip_local_port_range.` : "") +
        " Those counts are skipped.",
    );
  }
  const counts = opts.nodes.filter(fits);
  const maxN = Math.max(0, ...counts);
  console.log(
    "Shortcut: nodes are not registered through the REST bootstrap (one SIWE sign-in per node). The bench owns the hub's data dir, so before the hub starts it\n" +
      "signs each node's own key with the hub's CA (CertificateAuthority.signNodeCertificates on <dataDir>/ca) and writes the node records into the hub's store.\n" +
      "Every hub of the bench runs on one CA (its files are copied into each fresh data dir); each node still has its own key and certificate.",
  );

  const tmp = await mkdtemp(join(tmpdir(), "hub-load-"));
  const results: RunResult[] = [];
  try {
    const t = Date.now();
    const { fleet, reused } = await openOrMakeFleet(opts.fleetDir ?? join(tmp, "fleet"), maxN, (done) => log(`signed ${done}/${maxN} node certificates`));
    log(reused ? `reused ${maxN} node identities from ${opts.fleetDir}` : `signed ${maxN} node identities in ${((Date.now() - t) / 1000).toFixed(1)} s (key + CSR + client and server certificate each)`);
    if (opts.replicas.length > 0) {
      const rows: ReplicaRow[] = [];
      for (const n of counts) {
        for (const replicas of opts.replicas) {
          if (budget.signal.aborted) break;
          const o = { replicas, nodes: n, gpus: opts.gpus, intervalMs: opts.intervalMs, durationMs: opts.durationMs, probeRate: opts.probeRate, sampleNodes: opts.sampleNodes, connectConcurrency: opts.connectConcurrency, connectTimeoutMs: opts.connectTimeoutMs, backTimeoutMs: Math.max(opts.restartTimeoutMs, 120_000), hubMain: HUB_MAIN };
          rows.push(await runReplicas(o, fleet, tmp, budget.signal, log));
        }
      }
      console.log(
        `\nReplicas on one PostgreSQL (one data dir, one CA): node i dials replica i mod R, each redial the next (a round-robin balancer). cmd: GET /v1/rentals/{id}/logs from a renter on replica 0,\n` +
          `to nodes whose stream is on replica 0 (local) or on the last replica (across: the request waits in the database for the owner's answer). Then the last replica is SIGKILLed\n` +
          `(one hub: SIGKILL and a restart on the same ports) and the time until every node has a stream again is measured. Heartbeats every ${values.interval}, ${values.duration} per probe.\n\n${replicaTable(rows)}`,
      );
      for (const r of rows) if (r.problems.length > 0) console.log(`- ${r.replicas} replica(s), N = ${r.nodes}: ${r.problems.join("; ")}`);
      return;
    }
    // Stores side by side: each N on every store before the next N, so a cut budget leaves both compared.
    const state = new Map(opts.stores.map((st) => [st, { connectPerS: 100, storm: true, done: false }]));
    for (const n of counts) {
      for (const store of opts.stores) {
        const st = state.get(store);
        if (!st || st.done || budget.signal.aborted) continue;
        const need = estimateMs(n, store, st.connectPerS);
        if (Date.now() + need > deadline) {
          log(`${store} ${n}: skipped, needs ~${(need / 1000).toFixed(0)} s and ${((deadline - Date.now()) / 1000).toFixed(0)} s are left of --max-seconds`);
          results.push({ store, nodes: n, phases: [], problems: [`skipped: ~${(need / 1000).toFixed(0)} s needed, ${((deadline - Date.now()) / 1000).toFixed(0)} s left of --max-seconds`], connectPerS: NaN });
          st.done = true;
          continue;
        }
        const r = await runOne(store, n, fleet, tmp, st.storm);
        results.push(r);
        if (r.phases.some((p) => p.kind === "restart" && p.problems.length > 0)) st.storm = false; // no point in a bigger storm
        if (Number.isFinite(r.connectPerS) && r.connectPerS > 0) st.connectPerS = r.connectPerS;
        for (const p of r.phases) console.log(`${store.padEnd(8)} ${table([p.row]).split("\n")[2]}`);
        // Larger fleets are tried while the realistic case keeps up; a failing stress case or storm is reported, not a stop.
        const problems = [...r.problems, ...r.phases.filter((p) => p.kind === "ramp" || p.kind === "steady").flatMap((p) => p.problems)];
        if (problems.length > 0 && !opts.keepGoing) {
          log(`${store} ${n}: did not keep up (${problems.join("; ")}); no larger N on ${store}`);
          st.done = true;
        }
      }
    }
  } finally {
    clearTimeout(budgetTimer);
    await rm(tmp, { recursive: true, force: true });
  }
  printReport(results);
}

async function runOne(store: StoreKind, n: number, fleet: Fleet, tmp: string, storm: boolean): Promise<RunResult> {
  const result: RunResult = { store, nodes: n, phases: [], problems: [], connectPerS: NaN };
  const dataDir = await mkdtemp(join(tmp, `${store}-${n}-`));
  const driver = new FleetDriver(budget.signal);
  let pg: { url: string; drop: () => Promise<void> } | undefined;
  let hub: HubProcess | undefined;
  let reader: HeartbeatReader | undefined;
  let renter: Renter | undefined;
  try {
    await installCa(fleet, dataDir);
    if (store === "postgres") pg = await freshPostgresSchema("hub_load");
    const t = Date.now();
    const st = await openHubStore({ databaseUrl: pg?.url, sqliteFile: join(dataDir, "hub.db") });
    try {
      await seedNodes(st, fleet, n, opts.gpus, store === "postgres" ? 8 : 1);
    } finally {
      await st.close();
    }
    log(`${store} ${n}: ${n} nodes written into the store in ${((Date.now() - t) / 1000).toFixed(1)} s; starting the hub`);
    const hubOpts = { mainJs: HUB_MAIN, dataDir, databaseUrl: pg?.url, heartbeatIntervalMs: opts.intervalMs, grpcPort: 0, httpPort: 0, readyTimeoutMs: 30_000, logFile: values["hub-log"], nodeArgs: values["hub-node-args"]?.split(/\s+/).filter(Boolean) };
    hub = await HubProcess.start(hubOpts);
    reader = store === "sqlite" ? sqliteReader(join(dataDir, "hub.db")) : await postgresReader(pg?.url ?? "");

    const counters = new FleetCounters();
    const target = `127.0.0.1:${hub.grpcPort}`;
    const redialGate = new DialGate(opts.connectConcurrency);
    const nodes = fleet.nodes.slice(0, n).map((id) => new SimNode(id, { target, caCertPem: fleet.caCertPem, gpuCount: opts.gpus, redialGate }, counters));
    const ramp = await rampPhase("ramp", "connect ramp", n, nodes, driver, counters, hub, store);
    result.phases.push(ramp.phase);
    result.connectPerS = ramp.perS;
    if (counters.connected === 0) return result;

    // The command path: a renter's rentals on a few nodes spread over the fleet.
    renter = new Renter(`https://127.0.0.1:${hub.httpPort}`, fleet.caCertPem);
    await renter.signIn();
    const k = Math.min(opts.sampleNodes, n);
    const sample = Array.from({ length: k }, (_, i) => nodes[Math.floor((i * n) / k)]).filter((x): x is SimNode => x !== undefined && x.connected);
    const rentalIds = await renter.rentOn(sample.map((x) => x.nodeId), Date.now() + 30_000);

    result.phases.push(await measure("steady", n, `hb every ${values.interval}`, hub, reader, renter, rentalIds, counters, store));

    // Stress: the nodes heartbeat faster than the hub's Welcome asked. The hub's work per heartbeat
    // does not depend on its configured interval (only its offline timers do, and they then never
    // fire), and no restart + second ramp is needed.
    if (opts.stressMs > 0 && !budget.signal.aborted) {
      for (const node of nodes) node.heartbeatEvery(opts.stressMs);
      result.phases.push(await measure("stress", n, `hb every ${values["stress-interval"]}`, hub, reader, renter, rentalIds, counters, store));
      for (const node of nodes) node.heartbeatEvery(undefined);
    }

    // Reconnect storm: SIGTERM, start again on the same ports; every node redials by itself with
    // the daemon's backoff (250 ms doubling to 3 s, jittered) and welcome timeout (10 s).
    if (storm && opts.restartTimeoutMs > 0 && !budget.signal.aborted) {
      const stopped = await hub.stop(STOP_GRACE_MS);
      counters.reconnectMs.length = 0;
      const redials0 = counters.reconnects;
      hub = await HubProcess.start({ ...hubOpts, grpcPort: hub.grpcPort, httpPort: hub.httpPort });
      const win = new ProcWindow(hub.pid, store === "postgres");
      const ms = await waitConnected(counters, n, opts.restartTimeoutMs, budget.signal);
      const cpu = win.stop();
      const row = emptyRow(n, "hub restart");
      Object.assign(row, { connected: `${counters.connected}/${n}`, connectPerS: f0((counters.reconnectMs.length / ms) * 1000), connectMs: pair(counters.reconnectMs), ...cpuCells(cpu, store) });
      const problems = counters.connected < n ? [`${n - counters.connected} of ${n} not back ${(opts.restartTimeoutMs / 1000).toFixed(0)} s after a hub restart (${counters.reconnects - redials0} redials: ${lostSummary(counters)})${clientBound(cpu)}`] : [];
      row.verdict = problems.length === 0 ? `yes (${(ms / 1000).toFixed(1)} s)` : "NO";
      result.phases.push({ kind: "restart", row, problems, cpu });
      log(`${store} ${n}: hub stopped in ${(stopped.ms / 1000).toFixed(1)} s${stopped.graceful ? "" : " (killed)"}; ${counters.connected}/${n} back ${(ms / 1000).toFixed(1)} s after its restart (${counters.reconnects - redials0} redials; ${lostSummary(counters)})`);
    }
  } catch (err) {
    result.problems.push(`run failed: ${(err as Error).message}`);
    log(`${store} ${n}: run failed: ${(err as Error).stack ?? String(err)}`);
  } finally {
    await driver.stop(20_000);
    renter?.close();
    await reader?.close().catch(() => undefined);
    if (hub) {
      const s = await hub.stop(STOP_GRACE_MS);
      if (!s.graceful) result.problems.push(`the hub did not stop within ${STOP_GRACE_MS / 1000} s of SIGTERM`);
    }
    await pg?.drop().catch((err: unknown) => log(`dropping the PostgreSQL schema failed: ${(err as Error).message}`));
    await rm(dataDir, { recursive: true, force: true });
  }
  return result;
}

/** Every node dials, at most connect-concurrency at a time; done when all are connected or connect-timeout passed. */
async function rampPhase(kind: PhaseKind, phase: string, n: number, nodes: SimNode[], driver: FleetDriver, counters: FleetCounters, hub: HubProcess, store: StoreKind): Promise<{ phase: PhaseResult; perS: number }> {
  counters.connectMs.length = 0;
  const redials0 = counters.reconnects;
  const win = new ProcWindow(hub.pid, store === "postgres");
  const t = Date.now();
  await driver.start(nodes, opts.connectConcurrency);
  await waitConnected(counters, n, opts.connectTimeoutMs, budget.signal);
  const ms = Date.now() - t;
  const cpu = win.stop();
  const perS = (counters.connectMs.length / ms) * 1000;
  const row = emptyRow(n, phase);
  Object.assign(row, { connected: `${counters.connected}/${n}`, connectPerS: f0(perS), connectMs: pair(counters.connectMs), ...cpuCells(cpu, store) });
  const problems = counters.connected < n ? [`${n - counters.connected} of ${n} not connected ${(opts.connectTimeoutMs / 1000).toFixed(0)} s after the last dial (${lostSummary(counters)})${clientBound(cpu)}`] : [];
  row.verdict = problems.length === 0 ? `yes (${(ms / 1000).toFixed(1)} s)` : "NO";
  log(`${store} ${n}: ${phase}: ${counters.connected}/${n} connected in ${(ms / 1000).toFixed(1)} s; ${counters.reconnects - redials0} redials (${lostSummary(counters)})`);
  return { phase: { kind, row, problems, cpu }, perS };
}

function cpuCells(c: CpuWindow, store: StoreKind): Partial<Row> {
  return {
    hubCpu: f0(c.hubCpuPct),
    hubRss: `${f0(c.hubRssPeakMiB)}`,
    benchCpu: `${f0(c.benchCpuPct)}`,
    pgCpu: store === "postgres" ? f0(c.pgCpuPct) : dash,
    otherCpu: f0(c.otherCpuPct),
    benchLag: f0(c.benchLoopP99Ms),
  };
}

/** Said when the simulated nodes' own process was the one short of CPU. */
function clientBound(c: CpuWindow): string {
  if (!(c.benchLoopP99Ms > 200) && c.benchCpuPct < 90) return "";
  return `; client-bound: the simulated nodes' process ran at ${f0(c.benchCpuPct)}% CPU${Number.isFinite(c.benchLoopP99Ms) ? `, event-loop delay p99 ${f0(c.benchLoopP99Ms)} ms` : ""}`;
}

function lostSummary(c: FleetCounters): string {
  const top = [...c.lost.entries()].sort((a, b) => b[1] - a[1]).slice(0, 2);
  return top.length === 0 ? "no errors seen" : top.map(([k, v]) => `${v}x ${k}`).join(", ");
}

/** One steady-state window at the hub's current interval. */
async function measure(kind: PhaseKind, n: number, phase: string, hub: HubProcess, reader: HeartbeatReader, renter: Renter, rentalIds: string[], counters: FleetCounters, store: StoreKind): Promise<PhaseResult> {
  await sleep(SETTLE_MS, budget.signal).catch(() => undefined);
  hub.counts.reset();
  const watcher = new FlushWatcher(reader, 250, () => counters.heartbeatsSent);
  watcher.start();
  const win = new ProcWindow(hub.pid, store === "postgres");
  const lost0 = counters.reconnects;
  const wall0 = Date.now();
  const until = wall0 + opts.durationMs;
  const probe = renter.probe(rentalIds, until, opts.probeRate, Math.ceil((opts.durationMs / 1000) * opts.probeRate) + 1, budget.signal);
  await sleep(Math.max(0, until - Date.now()), budget.signal).catch(() => undefined);
  const probed = await probe;
  const cpu = win.stop();
  await watcher.nextFlush(HUB_FLUSH_MS + 2_000); // so the span covers the window's end
  const flush = watcher.stop();
  const lags = await reader.lags(wall0);
  const row = emptyRow(n, phase);
  const lagP99 = percentile(lags, 99);
  const cmdP99 = percentile(probed.command, 99);
  Object.assign(row, {
    connected: `${counters.connected}/${n}`,
    hbSent: f1(flush.sentPerSecond),
    hbHub: f1(flush.perSecond),
    hbLagMs: pair(lags),
    offline: String(hub.counts.offline),
    cmdMs: pair(probed.command, 1),
    readMs: pair(probed.read, 1),
    ...cpuCells(cpu, store),
  });
  const problems: string[] = [];
  if (counters.connected < n) problems.push(`${n - counters.connected} nodes disconnected`);
  if (counters.reconnects > lost0) problems.push(`${counters.reconnects - lost0} streams lost (${lostSummary(counters)})`);
  if (!(flush.share >= ABSORBED_SHARE)) problems.push(`hub stored ${f0(flush.share * 100)}% of the heartbeats sent over ${(flush.spanMs / 1000).toFixed(1)} s between its flushes`);
  if (!(lagP99 <= MAX_LAG_P99_MS)) problems.push(`heartbeat lag p99 ${f0(lagP99)} ms`);
  if (hub.counts.offline > 0) problems.push(`${hub.counts.offline} nodes marked offline`);
  if (probed.failures > 0 || !(cmdP99 <= MAX_CMD_P99_MS)) problems.push(`commands: ${probed.failures} failed${probed.firstFailure ? ` (${probed.firstFailure})` : ""}, p99 ${f0(cmdP99)} ms`);
  if (hub.counts.errors > 0) problems.push(`${hub.counts.errors} errors in the hub's log (${hub.counts.firstError})`);
  if (problems.length > 0) {
    const cb = clientBound(cpu);
    if (cb) problems.push(cb.slice(2));
  }
  row.verdict = problems.length === 0 ? "yes" : "NO";
  log(`${hub.counts.errors > 0 ? `hub errors: ${hub.counts.firstError}; ` : ""}${phase}: ${flush.flushes} flushes seen over ${(flush.spanMs / 1000).toFixed(1)} s; ${probed.command.length} command samples; bench loop p99 ${f0(cpu.benchLoopP99Ms)} ms; bench RSS ${f0(cpu.benchRssEndMiB)} MiB`);
  return { kind, row, problems, cpu };
}

function printReport(results: RunResult[]): void {
  console.log(
    [
      "",
      `hub-load: the hub is a child process (${HUB_MAIN}); the N simulated nodes run in this process, each with its own key, certificate, gRPC channel and bidi stream.`,
      `Phases: connect ramp (at most ${opts.connectConcurrency} nodes between dial and Welcome) | hub told nodes ${values.interval} (--heartbeat-interval) | stress: nodes heartbeat every ${values["stress-interval"]}`,
      `(the hub's work per heartbeat does not depend on its flag) | hub restart: SIGTERM, same ports, nodes redial by themselves (the daemon's backoff and`,
      `welcome timeouts), at most ${opts.connectConcurrency} between dial and Welcome: one process simulates the fleet, and unpaced its own TLS handshakes stall it.`,
      `Windows: ${values.duration} after ${SETTLE_MS / 1000} s settling. Heartbeats carry ${opts.gpus} GPUs.`,
      "hb/s sent / hub: between the first and the last flush of the hub seen in the window (and the one after it): heartbeats the nodes sent, and the rise of",
      "sum(last_heartbeats.seq) in the hub's own store (each heartbeat raises its node's seq by one); kept up = stored >= 90% of sent.",
      "hb lag: received_at (hub) - sentAtUnixMs (node) of each node's latest stored heartbeat.",
      `cmd: GET /v1/rentals/{id}/logs, which makes the hub send a getRentalLogs command down the node's stream and wait for its result; read: GET /v1/rentals/{id}`,
      `(same HTTPS + token + store read, no command): cmd - read = the command's own round trip. ${opts.probeRate}/s each, one at a time, over ${opts.sampleNodes} nodes.`,
      "CPU%: of one core, over the phase (200 = both cores); other: the rest of the machine (anything else running here competes for the same 2 cores).",
      "bench lag: event-loop delay p99 of the simulated nodes' process; high means the nodes, not the hub, fell behind.",
    ].join("\n"),
  );
  for (const store of opts.stores) {
    const mine = results.filter((r) => r.store === store);
    if (mine.length === 0) continue;
    console.log(`\n${store === "sqlite" ? "SQLite (embedded, <dataDir>/hub.db)" : "PostgreSQL (127.0.0.1, fresh schema per run)"}\n`);
    console.log(table(mine.flatMap((r) => (r.phases.length > 0 ? r.phases.map((p) => p.row) : [{ ...emptyRow(r.nodes, "not run"), verdict: r.problems[0] ?? dash }]))));
    const lines: string[] = [];
    const verdicts: Array<[string, PhaseKind[]]> = [
      [`connect + heartbeats every ${values.interval}`, ["ramp", "steady"]],
      ["all back after a hub restart", ["restart"]],
      [`heartbeats every ${values["stress-interval"]}`, ["stress"]],
    ];
    for (const [what, kinds] of verdicts) {
      const ran = mine.filter((r) => r.phases.some((p) => kinds.includes(p.kind)));
      if (ran.length === 0) continue;
      const bad = (r: RunResult): string[] => [...(kinds.includes("ramp") ? r.problems : []), ...r.phases.filter((p) => kinds.includes(p.kind)).flatMap((p) => p.problems)];
      const good = ran.filter((r) => bad(r).length === 0).at(-1);
      const failed = ran.find((r) => bad(r).length > 0);
      let line = `${what}: ${good ? `kept up to N = ${good.nodes}` : "did not keep up at any N tried"}`;
      if (failed) {
        line += `; at N = ${failed.nodes}: ${bad(failed).join("; ")}`;
        const c = failed.phases.filter((p) => kinds.includes(p.kind) && p.cpu).sort((a, b) => (b.cpu?.hubCpuPct ?? 0) - (a.cpu?.hubCpuPct ?? 0))[0]?.cpu;
        if (c) {
          const total = c.hubCpuPct + c.benchCpuPct + c.pgCpuPct;
          line +=
            ` (hub ${f0(c.hubCpuPct)}% of a core, bench ${f0(c.benchCpuPct)}%${store === "postgres" ? `, PostgreSQL ${f0(c.pgCpuPct)}%` : ""} = ${f0(total)}% of ${availableParallelism() * 100}%` +
            (c.hubCpuPct >= 90 ? ": the hub's JavaScript thread was saturated" : total >= availableParallelism() * 85 ? ": the machine's cores were saturated (hub and simulated nodes share them)" : "") +
            ")";
        }
      } else if (good && good.nodes === Math.max(...opts.nodes)) line += " (the largest N asked for)";
      lines.push(`${line}.`);
    }
    const skipped = mine.filter((r) => r.phases.length === 0).map((r) => `N = ${r.nodes} ${r.problems[0] ?? ""}`);
    if (skipped.length > 0) lines.push(`Not run: ${skipped.join("; ")}.`);
    console.log(`\n${lines.map((l) => `- ${l}`).join("\n")}`);
  }
  const rowsOf = (store: StoreKind): Row[] => results.filter((r) => r.store === store).flatMap((r) => r.phases.map((p) => p.row));
  const both = sideBySide(rowsOf("sqlite"), rowsOf("postgres"));
  if (both) console.log(`\nSide by side, SQLite \u2502 PostgreSQL:\n\n${both}`);
}

await main();
