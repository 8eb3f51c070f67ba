import { CommandFailure } from "../channel/command-dispatcher.js";
import type { ContainerEngine, ContainerEvent } from "../container/engine.js";
import { ContainerError } from "../container/errors.js";
import { parseWorkloadLabels, workloadFilter } from "../container/labels.js";
import type { Logger } from "../log/logger.js";
import type { MiningControl } from "../mining/mining-control.js";
import type { RentalNetworks } from "../network/rental-networks.js";
import {
  type GetRentalLogs,
  type NodeMessage,
  type RentalInfo,
  type RentalLogs,
  RentalState,
  type StartRental,
  type StopRental,
} from "../proto/gen/gpunode/v1/gpunode.js";
import { SshGatewayError } from "../ssh/errors.js";
import type { SshListeners } from "../ssh/ssh-listeners.js";
import { isAbortError, sleep } from "../util/abort.js";
import { Backoff } from "../util/backoff.js";
import type { GpuAllocation } from "./gpu-allocation.js";
import type { ImagePuller } from "./image-puller.js";
import { parseRentalFacts } from "./rental-labels.js";
import { isLive, type RentalRecord, rentalInfo, sshEndpoint } from "./rental-record.js";
import { checkStartRental, type RentalDefaults, rentalLimits } from "./rental-request.js";
import type { RentalSecrets } from "./rental-secrets.js";
import { rentalContainerName, rentalContainerSpec } from "./rental-spec.js";

export interface RentalServiceOptions {
  nodeId: string;
  /** The address renters are told to ssh to. */
  host: string;
  sshUser: string;
  defaultStopTimeoutSec: number;
  defaults: RentalDefaults;
  /** An ended job's container (and so its logs) is removed this long after it ended. */
  endedRetentionMs: number;
  /** Ended rentals a heartbeat lists at most (the newest): live ones are always listed. */
  endedInHeartbeat: number;
  /** -rental-disk-limit: each rental's writable layer, where the storage driver can limit it. */
  diskLimitBytes?: number;
}

export interface RentalServiceDeps {
  engine: ContainerEngine;
  allocation: GpuAllocation;
  mining: MiningControl;
  ssh: SshListeners;
  puller: ImagePuller;
  secrets: RentalSecrets;
  /** Each rental's own network, or the shared bridge where isolation is not possible. */
  networks: RentalNetworks;
  /** Adds a line to the node's notices (what the hub shows the provider). */
  notice?(text: string): void;
  /** GPU index -> UUID, for the hub's view. */
  gpuUuid(index: number): string;
  /** The sftp-server bundle to mount read-only, when the host has one. */
  helper?: { source: string; target: string };
  /** Tells the hub what happened without being asked (exit, OOM, failure, pull progress). */
  report(body: NonNullable<NodeMessage["body"]>): void;
  logger: Logger;
}

const ENDED_KEPT = 256;
/** How often ended containers are checked against the retention period, at most. */
const SWEEP_EVERY_MAX_MS = 60_000;

/**
 * Rental containers on this node: start, stop, logs, and what happens to them on their own. The
 * engine's labels are the truth: a restarted daemon adopts what runs instead of remembering it.
 */
export class RentalService {
  private readonly rentals = new Map<string, RentalRecord>();
  /** Rentals that ended, answered by a repeated stop. */
  private readonly ended = new Map<string, RentalInfo>();
  /** Why commands are refused for now (no Docker engine yet); undefined once the engine answered. */
  unavailable: string | undefined;
  /** Why new rentals are refused while the engine, once there, does not answer; stops and logs still try. */
  engineDown: string | undefined;
  /** Set once the engine refused a writable-layer limit: rentals then start without one. */
  private diskLimitRefused = false;

  constructor(
    private readonly opts: RentalServiceOptions,
    private readonly deps: RentalServiceDeps,
  ) {}

  /** Every live rental, and the newest ended ones still kept: a heartbeat stays small however many jobs ran. */
  list(): RentalInfo[] {
    const all = [...this.rentals.values()];
    const ended = all
      .filter((r) => !isLive(r))
      .sort((a, b) => (b.endedAt?.getTime() ?? 0) - (a.endedAt?.getTime() ?? 0))
      .slice(0, this.opts.endedInHeartbeat);
    return [...all.filter(isLive), ...ended].map(rentalInfo);
  }

  /** Removes the containers of rentals that ended longer than the retention period ago; they are answered from memory after. */
  async sweep(now = Date.now(), signal?: AbortSignal): Promise<void> {
    for (const r of [...this.rentals.values()]) {
      if (isLive(r) || r.starting || r.stopping || !r.endedAt || now - r.endedAt.getTime() < this.opts.endedRetentionMs) continue;
      r.stopping = true;
      try {
        await this.deps.engine.remove(r.containerId, { force: true, signal });
      } catch (err) {
        r.stopping = false;
        this.deps.logger.warn({ err, rentalId: r.id }, "could not remove an ended rental's container; trying again later");
        continue;
      }
      await this.deps.networks.release(r.id, signal);
      await this.deps.secrets.remove(r.id);
      this.forget(r);
      this.deps.logger.info({ rentalId: r.id, endedAt: r.endedAt.toISOString() }, "removed an ended rental's container after the retention period");
    }
  }

  /** True for a rental this node holds (starting, running or ended but kept): a repeated start is answered, not refused. */
  knows(rentalId: string): boolean {
    return this.rentals.has(rentalId);
  }

  async start(cmd: StartRental, signal: AbortSignal): Promise<RentalInfo> {
    checkStartRental(cmd);
    const existing = this.rentals.get(cmd.rentalId);
    if (existing) return existing.starting ?? rentalInfo(existing);
    // Ended already: answering with how it ended keeps a repeated start from renting twice.
    const ended = this.ended.get(cmd.rentalId);
    if (ended) return ended;
    const record: RentalRecord = {
      id: cmd.rentalId,
      image: cmd.image,
      state: RentalState.RENTAL_STATE_STARTING,
      gpuIndices: [],
      gpuUuids: [],
      containerId: rentalContainerName(cmd.rentalId),
      batch: cmd.command.length > 0,
      exitCode: 0,
      oomKilled: false,
      reason: "",
      adopted: false,
      stopping: false,
      diedWhileStarting: false,
    };
    // Taking the GPUs is synchronous: two starts cannot both get the same GPU.
    record.gpuIndices = this.deps.allocation.claim(cmd.rentalId, cmd.gpus ?? { count: 0, ids: [], model: "" });
    record.gpuUuids = record.gpuIndices.map((i) => this.deps.gpuUuid(i));
    this.rentals.set(cmd.rentalId, record);
    const cancel = (record.cancelStart = new AbortController());
    record.starting = this.launch(record, cmd, AbortSignal.any([signal, cancel.signal])).finally(() => {
      record.starting = undefined;
      record.cancelStart = undefined;
    });
    return record.starting;
  }

  async stop(cmd: StopRental, signal: AbortSignal, reason = STOPPED_BY_HUB): Promise<RentalInfo> {
    const record = this.rentals.get(cmd.rentalId);
    if (!record) return this.ended.get(cmd.rentalId) ?? { ...emptyInfo(cmd.rentalId), state: RentalState.RENTAL_STATE_STOPPED, reason: "no such rental on this node (already stopped?)" };
    // A stop while another is under way (the hub's, at the moment this node's duration limit fires) gets
    // that one's answer instead of racing it to the engine and rewriting why the rental ended.
    record.stopped ??= this.stopOnce(record, cmd, signal, reason).finally(() => (record.stopped = undefined));
    return record.stopped;
  }

  private async stopOnce(record: RentalRecord, cmd: StopRental, signal: AbortSignal, asked: string): Promise<RentalInfo> {
    // The hub stops a rental at its limit too, timed from the same start: whoever is first, that is why it ended.
    const reason = asked === STOPPED_BY_HUB && record.limitAt !== undefined && Date.now() >= record.limitAt ? DURATION_LIMIT_REACHED : asked;
    // A rental still starting (its image pulling) is cancelled there and then, not after the pull.
    record.cancelStart?.abort(new StartCancelled(`${reason} while it was starting`));
    if (record.starting) await record.starting.catch(() => undefined);
    if (!this.rentals.has(cmd.rentalId)) return this.ended.get(cmd.rentalId) ?? rentalInfo(record);
    const log = this.deps.logger.child({ rentalId: record.id });
    record.stopping = true;
    const wasLive = isLive(record);
    try {
      if (wasLive) await this.deps.engine.stop(record.containerId, cmd.timeoutSeconds || this.opts.defaultStopTimeoutSec, signal);
      await this.deps.engine.remove(record.containerId, { force: true, signal });
    } catch (err) {
      record.stopping = false;
      throw err;
    }
    if (wasLive) {
      record.state = RentalState.RENTAL_STATE_STOPPED;
      record.reason = reason;
      record.endedAt = new Date();
    }
    await this.deps.networks.release(record.id, signal);
    await this.release(record);
    await this.deps.secrets.remove(record.id);
    this.forget(record);
    log.info({ reason }, "rental stopped");
    return rentalInfo(record);
  }

  async logs(cmd: GetRentalLogs, signal: AbortSignal): Promise<RentalLogs> {
    const record = this.rentals.get(cmd.rentalId);
    if (!record) throw new CommandFailure("unknown_rental", `no rental ${cmd.rentalId} on this node`);
    const text = await this.deps.engine.logs(record.containerId, { tail: Math.min(cmd.tailLines || 100, 10_000), signal });
    return { rentalId: record.id, text };
  }

  /** Takes over the rental containers of this node that the engine holds (at start, and after losing the engine). */
  async adopt(signal?: AbortSignal): Promise<void> {
    const found = await this.deps.engine.list({ labels: workloadFilter(this.opts.nodeId, "rental") }, signal);
    for (const c of found) {
      const labels = parseWorkloadLabels(c.labels);
      const facts = parseRentalFacts(c.labels);
      if (labels?.kind !== "rental" || !facts) {
        this.deps.logger.warn({ container: c.name }, "a rental container with unreadable labels: left alone");
        continue;
      }
      const known = this.rentals.get(labels.rentalId);
      if (known?.starting || known?.stopping) continue;
      if (known && isLive(known)) {
        if (!c.running) await this.onExit(known); // it ended while we were not listening
        else await this.refreshSsh(known, facts, signal);
        continue;
      }
      if (known && !c.running) continue;
      // Unknown to us, or ended and brought back by the engine (restart policy after a dockerd restart).
      try {
        await this.adoptOne(labels.rentalId, labels.gpuIds.map(Number), facts, c.id, c.running, signal);
      } catch (err) {
        this.deps.logger.error({ err, rentalId: labels.rentalId }, "could not adopt a rental container");
      }
    }
    // Rentals whose container vanished behind our back (removed by hand, engine wiped).
    const present = new Set(found.map((c) => parseWorkloadLabels(c.labels)).flatMap((l) => (l?.kind === "rental" ? [l.rentalId] : [])));
    for (const r of this.rentals.values()) {
      if (isLive(r) && !r.starting && !r.stopping && !present.has(r.id)) await this.markEnded(r, RentalState.RENTAL_STATE_EXITED, "the container disappeared from the engine");
    }
    // Adopted rentals get their rules back. A network goes when its container is gone or is a finished
    // batch job's (kept for its logs only); never an interactive rental's, which Docker may yet restart.
    const keep = new Set<string>();
    for (const c of found) {
      const id = parseWorkloadLabels(c.labels);
      if (id?.kind === "rental" && (c.running || !parseRentalFacts(c.labels)?.batch)) keep.add(id.rentalId);
    }
    for (const r of this.rentals.values()) if (r.starting || r.stopping || (isLive(r) && !r.batch)) keep.add(r.id);
    await this.deps.networks.reconcile(keep, signal).catch((err: unknown) => {
      if (signal?.aborted) throw err;
      this.deps.logger.error({ err }, "could not check the rentals' networks and firewall rules");
    });
  }

  /** Follows the engine's events until signal aborts; after losing them, re-subscribes and re-reads the engine. Sweeps ended containers meanwhile. */
  async run(signal: AbortSignal): Promise<void> {
    const sweepEvery = Math.min(SWEEP_EVERY_MAX_MS, Math.max(250, this.opts.endedRetentionMs / 2));
    const sweeper = setInterval(() => void this.sweep(Date.now(), signal).catch((err: unknown) => this.deps.logger.warn({ err }, "sweeping ended rentals failed")), sweepEvery);
    sweeper.unref();
    signal.addEventListener("abort", () => clearInterval(sweeper), { once: true });
    const backoff = new Backoff({ initialMs: 250, maxMs: 5_000, factor: 2 });
    let first = true;
    while (!signal.aborted) {
      try {
        const events = await this.deps.engine.events(signal);
        if (!first) await this.adopt(signal);
        first = false;
        if (this.engineDown) this.deps.logger.info("the Docker engine answers again: rentals are available");
        this.engineDown = undefined;
        backoff.reset();
        for await (const ev of events) await this.onEvent(ev);
      } catch (err) {
        if (isAbortError(err, signal) || signal.aborted) return;
        // The node stays online; new rentals are refused with this until the engine is back.
        this.engineDown = `the Docker engine is not answering (${(err as Error).message}); rentals resume when it does`;
        const delay = backoff.next();
        this.deps.logger.warn({ err: (err as Error).message, retryInMs: delay }, "lost the Docker engine's events; reconnecting");
        await sleep(delay, signal).catch(() => undefined);
      }
    }
  }

  /** Stops the duration timers; rentals keep running (they are adopted at the next start). */
  close(): void {
    for (const r of this.rentals.values()) clearTimeout(r.durationTimer);
  }

  private async launch(record: RentalRecord, cmd: StartRental, signal: AbortSignal): Promise<RentalInfo> {
    const log = this.deps.logger.child({ rentalId: record.id });
    const { deps, opts } = this;
    let created = false;
    let networked = false;
    try {
      const limits = rentalLimits(cmd, record.gpuIndices.length, opts.defaults);
      await deps.puller.ensure(cmd.image, (p) => deps.report({ $case: "pullProgress", value: { rentalId: record.id, image: cmd.image, ...p } }), signal);
      await deps.mining.pause(record.gpuIndices, signal);
      if (cmd.sshPasswordHash) await deps.secrets.save(record.id, cmd.sshPasswordHash);
      const access = { rentalId: record.id, containerId: record.containerId, authorizedKeys: cmd.sshPublicKeys, user: opts.sshUser, ...(cmd.sshPasswordHash ? { passwordHash: cmd.sshPasswordHash } : {}) };
      // A batch job without keys is nobody's to log in to: no SSH listener for it.
      const withSsh = cmd.sshPublicKeys.length > 0 || cmd.sshPasswordHash !== "";
      const port = withSsh ? (await deps.ssh.open(access)).port : 0;
      networked = true; // before: a network made by a prepare that then failed goes too (release is idempotent)
      const network = await deps.networks.prepare(record.id, signal);
      record.startedAt = new Date();
      const spec = rentalContainerSpec({
        cmd,
        nodeId: opts.nodeId,
        gpuIndices: record.gpuIndices,
        limits,
        facts: { sshPort: port, sshUser: opts.sshUser, sshKeys: cmd.sshPublicKeys, startedAt: record.startedAt, maxDurationSeconds: Number(cmd.maxDurationSeconds), batch: record.batch, runAsRoot: cmd.runAsRoot },
        helper: deps.helper,
        network,
        ...(opts.diskLimitBytes && !this.diskLimitRefused ? { storageSizeBytes: opts.diskLimitBytes } : {}),
      });
      record.containerId = await this.createAndStart(spec, signal);
      created = true;
      const state = await deps.engine.inspect(record.containerId, signal);
      if (!record.batch && (!state.running || state.status === "restarting")) {
        throw new CommandFailure("start_failed", `the container exited at once (${exitReason(state.exitCode, state.oomKilled)}): an interactive rental needs /bin/sh in the image`);
      }
      if (withSsh) {
        await deps.ssh.open({ ...access, containerId: record.containerId, execUser: sessionUser(state.user, cmd.runAsRoot), ...(state.ipAddress ? { containerIp: state.ipAddress } : {}) });
        record.ssh = sshEndpoint(opts.host, port, opts.sshUser, await deps.ssh.hostKeyPin());
      }
      record.state = RentalState.RENTAL_STATE_RUNNING;
      // From startedAt, as the hub times it and as adoption re-arms it, not from now (the container's creation took a while).
      if (cmd.maxDurationSeconds > 0) this.armDurationLimit(record, record.startedAt.getTime() + Number(cmd.maxDurationSeconds) * 1000 - Date.now());
      log.info({ gpus: record.gpuIndices, port, image: cmd.image, batch: record.batch }, "rental running");
      if (record.batch && (record.diedWhileStarting || !state.running)) await this.onExit(record);
      return rentalInfo(record);
    } catch (err) {
      const cancelled = record.cancelStart?.signal.reason instanceof StartCancelled ? (record.cancelStart.signal.reason as StartCancelled) : undefined;
      const failure = asFailure(err);
      if (cancelled) log.info({ reason: cancelled.message }, "rental stopped while starting");
      else log.warn({ code: failure.code, reason: failure.message }, "rental failed to start");
      if (created) await deps.engine.remove(record.containerId, { force: true }).catch(() => undefined);
      if (networked) await deps.networks.release(record.id);
      record.state = cancelled ? RentalState.RENTAL_STATE_STOPPED : RentalState.RENTAL_STATE_FAILED;
      record.reason = cancelled?.message ?? failure.message;
      record.endedAt = new Date();
      await this.release(record);
      await deps.secrets.remove(record.id);
      this.forget(record);
      deps.report({ $case: "rentalEvent", value: { rental: rentalInfo(record) } });
      // A cancelled start is an answer, not an error: the rental was stopped as asked.
      if (cancelled) return rentalInfo(record);
      throw failure;
    }
  }

  /** With the disk limit when asked; where the storage driver cannot enforce one, once said in the notices, without. */
  private async createAndStart(spec: ReturnType<typeof rentalContainerSpec>, signal: AbortSignal): Promise<string> {
    try {
      return await this.deps.engine.createAndStart(spec, signal);
    } catch (err) {
      if (!(err instanceof ContainerError && err.code === "storage_unsupported" && spec.storageSizeBytes)) throw err;
      this.diskLimitRefused = true;
      const notice = `-rental-disk-limit is not enforced: the engine's storage driver cannot limit a container's writable layer (${err.message}); rentals run without it`;
      this.deps.logger.warn(notice);
      this.deps.notice?.(notice);
      const { storageSizeBytes: _, ...without } = spec;
      return this.deps.engine.createAndStart(without, signal);
    }
  }

  private async adoptOne(id: string, gpuIndices: number[], facts: NonNullable<ReturnType<typeof parseRentalFacts>>, containerId: string, running: boolean, signal?: AbortSignal): Promise<void> {
    const state = await this.deps.engine.inspect(containerId, signal);
    const record: RentalRecord = {
      id,
      image: state.image,
      state: running ? RentalState.RENTAL_STATE_RUNNING : RentalState.RENTAL_STATE_EXITED,
      gpuIndices: running ? gpuIndices : [],
      gpuUuids: running ? gpuIndices.map((i) => this.deps.gpuUuid(i)) : [],
      containerId,
      batch: facts.batch,
      exitCode: running ? 0 : state.exitCode,
      oomKilled: running ? false : state.oomKilled,
      reason: running ? "" : exitReason(state.exitCode, state.oomKilled),
      startedAt: facts.startedAt,
      endedAt: running ? undefined : state.finishedAt,
      adopted: true,
      stopping: false,
      diedWhileStarting: false,
    };
    this.rentals.set(id, record);
    if (!running) return;
    this.deps.allocation.restore(id, gpuIndices);
    if (facts.sshKeys.length === 0 && !(await this.deps.secrets.passwordHash(id))) return; // a batch job: no SSH
    const passwordHash = await this.deps.secrets.passwordHash(id);
    const { port } = await this.deps.ssh.open(
      { rentalId: id, containerId, authorizedKeys: facts.sshKeys, user: facts.sshUser, execUser: sessionUser(state.user, facts.runAsRoot), ...(passwordHash ? { passwordHash } : {}), ...(state.ipAddress ? { containerIp: state.ipAddress } : {}) },
      facts.sshPort,
    );
    record.ssh = sshEndpoint(this.opts.host, port, facts.sshUser, await this.deps.ssh.hostKeyPin());
    if (facts.maxDurationSeconds > 0) this.armDurationLimit(record, facts.startedAt.getTime() + facts.maxDurationSeconds * 1000 - Date.now());
    this.deps.logger.info({ rentalId: id, gpus: gpuIndices, port }, "adopted a running rental");
  }

  /** After an engine restart the container may have a new bridge address: -L must follow it. */
  private async refreshSsh(record: RentalRecord, facts: NonNullable<ReturnType<typeof parseRentalFacts>>, signal?: AbortSignal): Promise<void> {
    if (!record.ssh) return;
    const state = await this.deps.engine.inspect(record.containerId, signal);
    const passwordHash = await this.deps.secrets.passwordHash(record.id);
    await this.deps.ssh.open({ rentalId: record.id, containerId: record.containerId, authorizedKeys: facts.sshKeys, user: facts.sshUser, execUser: sessionUser(state.user, facts.runAsRoot), ...(passwordHash ? { passwordHash } : {}), ...(state.ipAddress ? { containerIp: state.ipAddress } : {}) });
  }

  private async onEvent(ev: ContainerEvent): Promise<void> {
    if (ev.type !== "die") return;
    const labels = parseWorkloadLabels(ev.labels);
    if (labels?.kind !== "rental" || labels.nodeId !== this.opts.nodeId) return;
    const record = this.rentals.get(labels.rentalId);
    if (!record || record.stopping) return;
    if (record.starting) {
      record.diedWhileStarting = true;
      return;
    }
    if (isLive(record)) await this.onExit(record);
  }

  /**
   * The container's process ended by itself. A batch job is over: its exit code is the result.
   * An interactive rental is a machine: Docker restarts it (restart policy), the hub hears why,
   * and the rental goes on. When the engine itself is going away, adopt() settles it later.
   */
  private async onExit(record: RentalRecord): Promise<void> {
    let state;
    try {
      state = await this.deps.engine.inspect(record.containerId);
    } catch (err) {
      if (err instanceof ContainerError && err.code !== "not_found") return;
      return this.markEnded(record, RentalState.RENTAL_STATE_EXITED, "the container disappeared from the engine");
    }
    if (!record.batch) {
      if (state.running || state.status === "restarting") {
        const why = `the container's process ${exitReason(state.exitCode, state.oomKilled)}; Docker restarted it`;
        this.deps.logger.warn({ rentalId: record.id, exitCode: state.exitCode, oomKilled: state.oomKilled }, why);
        this.deps.report({ $case: "rentalEvent", value: { rental: { ...rentalInfo(record), exitCode: state.exitCode, oomKilled: state.oomKilled, reason: why } } });
      }
      return;
    }
    if (state.running) return;
    // wait() answers at once for an exited container, and catches an OOM notice the engine handled late.
    const exit = await this.deps.engine.wait(record.containerId).catch(() => ({ exitCode: state.exitCode, oomKilled: state.oomKilled }));
    record.exitCode = exit.exitCode;
    record.oomKilled = exit.oomKilled;
    await this.markEnded(record, RentalState.RENTAL_STATE_EXITED, exitReason(exit.exitCode, exit.oomKilled), state.finishedAt);
  }

  private async markEnded(record: RentalRecord, state: RentalState, reason: string, at = new Date()): Promise<void> {
    record.state = state;
    record.reason = reason;
    record.endedAt = at;
    await this.release(record);
    // Its container stays for the logs, not its network: a retained job must not hold one of the
    // engine's few address pools (about 30) for the whole retention period.
    await this.deps.networks.release(record.id);
    this.deps.logger.info({ rentalId: record.id, exitCode: record.exitCode, oomKilled: record.oomKilled, reason }, "rental ended");
    this.deps.report({ $case: "rentalEvent", value: { rental: rentalInfo(record) } });
  }

  /** Gives the rental's GPUs back to mining and closes its SSH access; the container stays for its logs. */
  private async release(record: RentalRecord): Promise<void> {
    clearTimeout(record.durationTimer);
    await this.deps.ssh.close(record.id).catch(() => undefined);
    const freed = this.deps.allocation.release(record.id);
    if (freed.length > 0) await this.deps.mining.resume(freed).catch((err: unknown) => this.deps.logger.warn({ err, gpus: freed }, "mining did not resume"));
  }

  private forget(record: RentalRecord): void {
    this.rentals.delete(record.id);
    this.ended.set(record.id, rentalInfo(record));
    while (this.ended.size > ENDED_KEPT) this.ended.delete(this.ended.keys().next().value as string);
  }

  private armDurationLimit(record: RentalRecord, ms: number): void {
    record.limitAt = Date.now() + ms;
    record.durationTimer = setTimeout(() => {
      void this.stop({ rentalId: record.id, timeoutSeconds: 0 }, AbortSignal.timeout(60_000), DURATION_LIMIT_REACHED).then(
        (info) => this.deps.report({ $case: "rentalEvent", value: { rental: info } }),
        (err: unknown) => this.deps.logger.error({ err, rentalId: record.id }, "stopping at the duration limit failed"),
      );
    }, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
    record.durationTimer.unref();
  }
}

const STOPPED_BY_HUB = "stopped by the hub";
const DURATION_LIMIT_REACHED = "duration limit reached";

/** Who SSH sessions run as: the image's own user (as `docker exec` does), or root when the renter asked. */
function sessionUser(imageUser: string, runAsRoot: boolean): string {
  return runAsRoot || imageUser === "" ? "root" : imageUser;
}

/** Why a start was abandoned: its rental was stopped before it ran. */
class StartCancelled extends Error {
  override readonly name = "StartCancelled";
}

function exitReason(code: number, oom: boolean): string {
  return oom ? `killed for using more memory than its limit (exit code ${code})` : `exited with code ${code}`;
}

function asFailure(err: unknown): CommandFailure {
  if (err instanceof CommandFailure) return err;
  if (err instanceof SshGatewayError) return new CommandFailure(err.code, err.message);
  if (err instanceof ContainerError) {
    const code = err.code === "image_not_found" || err.code === "pull_failed" ? "image_unavailable" : err.code === "start_failed" ? "start_failed" : "engine_error";
    return new CommandFailure(code, err.message);
  }
  return new CommandFailure("internal", err instanceof Error ? err.message : String(err));
}

function emptyInfo(rentalId: string): RentalInfo {
  return { rentalId, state: RentalState.RENTAL_STATE_UNSPECIFIED, image: "", gpuIndices: [], gpuUuids: [], containerId: "", ssh: undefined, exitCode: 0, oomKilled: false, reason: "", startedAt: "", endedAt: "", adopted: false };
}
