/**
 * Hub replicas under load: N simulated nodes spread over R rental-hub processes on one PostgreSQL
 * (one shared data dir, one CA), as a round-robin balancer would spread them. Measures the command
 * round trip from a renter on replica 0 to nodes whose stream is on replica 0 (local) and on another
 * replica (across, through the database), and, after replica R-1 is SIGKILLed, the time until every
 * node is back on a live replica. With R = 1 the "death" is a SIGKILL and a restart on the same ports:
 * what a single hub costs its fleet.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { openHubStore } from "../../internal/hub/store/open-store.js";
import { sleep } from "../../internal/util/abort.js";
import { freshPostgresSchema } from "../../test/support/postgres.js";
import { type Fleet, installCa, seedNodes } from "./fleet.js";
import { HubProcess, type HubProcessOptions } from "./hub-process.js";
import { Renter } from "./renter.js";
import { grid, pair, percentile } from "./report.js";
import { DialGate, FleetCounters, FleetDriver, SimNode, waitConnected } from "./sim-node.js";

export interface ReplicaRunOptions {
  replicas: number;
  nodes: number;
  gpus: number;
  intervalMs: number;
  durationMs: number;
  probeRate: number;
  sampleNodes: number;
  connectConcurrency: number;
  connectTimeoutMs: number;
  backTimeoutMs: number;
  hubMain: string;
}

export interface ReplicaRow {
  replicas: number;
  nodes: number;
  connected: string;
  rampS: string;
  /** Per replica: how many streams each held after the ramp. */
  spread: string;
  cmdLocal: string;
  cmdAcross: string;
  back: string;
  problems: string[];
}

const STOP_GRACE_MS = 15_000;

export async function runReplicas(o: ReplicaRunOptions, fleet: Fleet, tmp: string, signal: AbortSignal, log: (msg: string) => void): Promise<ReplicaRow> {
  const row: ReplicaRow = { replicas: o.replicas, nodes: o.nodes, connected: "-", rampS: "-", spread: "-", cmdLocal: "-", cmdAcross: "-", back: "-", problems: [] };
  const dataDir = await mkdtemp(join(tmp, `replicas-${o.replicas}-${o.nodes}-`));
  const driver = new FleetDriver(signal);
  const pg = await freshPostgresSchema("hub_replicas");
  const hubs: HubProcess[] = [];
  const renters: Renter[] = [];
  try {
    await installCa(fleet, dataDir);
    const st = await openHubStore({ databaseUrl: pg.url, sqliteFile: join(dataDir, "hub.db") });
    try {
      await seedNodes(st, fleet, o.nodes, o.gpus, 8);
    } finally {
      await st.close();
    }
    const hubOpts = (i: number): HubProcessOptions => ({
      mainJs: o.hubMain,
      dataDir,
      databaseUrl: pg.url,
      heartbeatIntervalMs: o.intervalMs,
      grpcPort: hubs[i]?.grpcPort ?? 0,
      httpPort: hubs[i]?.httpPort ?? 0,
      readyTimeoutMs: 30_000,
      // Replicas on one machine would fight over the metrics port.
      args: ["--metrics-listen="],
    });
    for (let i = 0; i < o.replicas; i++) hubs.push(await HubProcess.start(hubOpts(i)));
    const targets = hubs.map((h) => `127.0.0.1:${h.grpcPort}`);
    log(`replicas ${o.replicas} x ${o.nodes}: ${o.replicas} hub(s) on one PostgreSQL; connecting the fleet`);

    // Node i dials replica i mod R first, then the next one at each redial (as a round-robin balancer).
    const counters = new FleetCounters();
    const redialGate = new DialGate(o.connectConcurrency);
    const nodes = fleet.nodes.slice(0, o.nodes).map((id, i) => new SimNode(id, { target: targets.map((_, k) => targets[(i + k) % targets.length] ?? ""), caCertPem: fleet.caCertPem, gpuCount: o.gpus, redialGate }, counters));
    const t = Date.now();
    await driver.start(nodes, o.connectConcurrency);
    await waitConnected(counters, o.nodes, o.connectTimeoutMs, signal);
    row.rampS = ((Date.now() - t) / 1000).toFixed(1);
    row.connected = `${counters.connected}/${o.nodes}`;
    row.spread = hubs.map((h) => h.counts.connected).join(" / ");
    if (counters.connected < o.nodes) row.problems.push(`${o.nodes - counters.connected} nodes not connected after the ramp`);

    // A renter on replica 0; rentals on nodes first held by replica 0 (local) and by the last replica (across).
    const renter = new Renter(`https://127.0.0.1:${hubs[0]?.httpPort}`, fleet.caCertPem);
    renters.push(renter);
    await renter.signIn();
    const held = (r: number): string[] => nodes.filter((_, i) => i % o.replicas === r).slice(0, o.sampleNodes).map((n) => n.nodeId);
    const local = await renter.rentOn(held(0), Date.now() + 30_000);
    const across = o.replicas > 1 ? await renter.rentOn(held(o.replicas - 1), Date.now() + 30_000) : [];
    await sleep(3_000, signal).catch(() => undefined);
    const until = Date.now() + o.durationMs;
    const rounds = Math.ceil((o.durationMs / 1000) * o.probeRate) + 1;
    const probedLocal = await renter.probe(local, until, o.probeRate, o.replicas > 1 ? Math.ceil(rounds / 2) : rounds, signal);
    const probedAcross = across.length > 0 ? await renter.probe(across, Date.now() + o.durationMs, o.probeRate, Math.ceil(rounds / 2), signal) : undefined;
    row.cmdLocal = `${pair(probedLocal.command, 1)} (${probedLocal.command.length})`;
    if (probedAcross) row.cmdAcross = `${pair(probedAcross.command, 1)} (${probedAcross.command.length})`;
    for (const [what, p] of [["local", probedLocal], ["across", probedAcross]] as const) {
      if (p && p.failures > 0) row.problems.push(`${what} commands: ${p.failures} failed (${p.firstFailure})`);
    }
    log(`replicas ${o.replicas} x ${o.nodes}: command p50 local ${percentile(probedLocal.command, 50).toFixed(1)} ms${probedAcross ? `, across ${percentile(probedAcross.command, 50).toFixed(1)} ms` : ""}`);

    // The last replica dies (SIGKILL): its nodes redial the next replica. One hub: it is started again on its ports.
    const victim = hubs[o.replicas - 1];
    if (victim && !signal.aborted) {
      const killedAt = Date.now();
      await victim.kill();
      if (o.replicas === 1) hubs[0] = await HubProcess.start(hubOpts(0));
      const ms = await waitConnected(counters, o.nodes, o.backTimeoutMs, signal);
      const back = counters.connected >= o.nodes;
      row.back = back ? `${((Date.now() - killedAt) / 1000).toFixed(1)} s` : `NO (${counters.connected}/${o.nodes} after ${(ms / 1000).toFixed(0)} s)`;
      if (!back) row.problems.push(`${o.nodes - counters.connected} nodes not back ${(o.backTimeoutMs / 1000).toFixed(0)} s after a replica died`);
      log(`replicas ${o.replicas} x ${o.nodes}: ${counters.connected}/${o.nodes} nodes back ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the SIGKILL`);
      if (o.replicas > 1 && back) {
        // The rentals of the dead replica's nodes are still reachable through the survivor.
        const after = await renter.probe(across, Date.now() + 2_000, o.probeRate, 5, signal);
        if (after.failures > 0) row.problems.push(`after the death, commands to its nodes failed: ${after.firstFailure}`);
      }
    }
  } catch (err) {
    row.problems.push(`run failed: ${(err as Error).message}`);
    log(`replicas ${o.replicas} x ${o.nodes}: run failed: ${(err as Error).stack ?? String(err)}`);
  } finally {
    await driver.stop(20_000);
    for (const r of renters) r.close();
    for (const h of hubs) await h.stop(STOP_GRACE_MS);
    await pg.drop().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  }
  return row;
}

export function replicaTable(rows: ReplicaRow[]): string {
  const head = ["replicas", "N", "connected", "ramp s", "streams per replica", "cmd local p50/p99 ms (n)", "cmd across p50/p99 ms (n)", "all back after one replica's SIGKILL"];
  return grid(head, rows.map((r) => [String(r.replicas), String(r.nodes), r.connected, r.rampS, r.spread, r.cmdLocal, r.cmdAcross, r.back]));
}
