import { availableParallelism, totalmem } from "node:os";
import { join } from "node:path";
import type { Logger } from "pino";
import type { ContainerEngine } from "../container/engine.js";
import type { DaemonMetrics } from "../metrics/daemon-metrics.js";
import { DockerodeEngine } from "../container/dockerode-engine.js";
import { type MiningControl, NO_MINING } from "../mining/mining-control.js";
import { defaultMiningOptions } from "../mining/mining-options.js";
import { MiningSupervisor } from "../mining/mining-supervisor.js";
import { openRentalNetworks } from "../network/rental-networks.js";
import { GpuActivity, MinerState, type NodeMessage } from "../proto/gen/gpunode/v1/gpunode.js";
import { GpuAllocation, type KnownGpu } from "../rental/gpu-allocation.js";
import { ImagePuller } from "../rental/image-puller.js";
import { RentalSecrets } from "../rental/rental-secrets.js";
import { RentalService } from "../rental/rental-service.js";
import { defaultRentalDefaults } from "../rental/rental-request.js";
import { prepareSftpHelper, SFTP_MOUNT_POINT } from "../ssh/sftp-helper.js";
import { sshStatePaths } from "../ssh/ssh-gateway.js";
import { sleep } from "../util/abort.js";
import { Backoff, type BackoffOptions } from "../util/backoff.js";
import { DEFAULT_LOGIN_USER } from "../ssh/ssh-access.js";
import type { GpuActivitySource } from "./gpu-activity.js";
import type { DaemonOptions } from "./options.js";
import { openRentalSsh } from "./rental-ssh.js";

export interface Workloads {
  /** "" until the Docker engine has answered. */
  readonly engineVersion: string;
  rentals: RentalService;
  mining: MiningControl;
  activity: GpuActivitySource;
  close(): Promise<void>;
}

export interface WorkloadDeps {
  nodeId: string;
  host: string;
  gpus: () => KnownGpu[];
  report(body: NonNullable<NodeMessage["body"]>): void;
  logger: Logger;
  metrics: DaemonMetrics | null;
  signal: AbortSignal;
}

const ENGINE_PROBE_MS = 3_000;
/** Ended rentals a heartbeat carries at most: enough for the hub to hear every end, small beside its 4 MiB limit. */
const ENDED_IN_HEARTBEAT = 32;
/** Re-probing an absent engine: soon after start (dockerd starting beside us), then twice a minute. */
const ENGINE_RETRY: BackoffOptions = { initialMs: 1_000, maxMs: 30_000, factor: 2 };

/**
 * Rentals and idle mining on the Docker engine. A machine without one still runs as a node: the
 * engine is probed again in the background, and rentals and mining turn on when it answers.
 */
export async function startWorkloads(opts: DaemonOptions, deps: WorkloadDeps, notices: string[]): Promise<Workloads> {
  const { logger, signal } = deps;
  const engine: ContainerEngine = new DockerodeEngine(opts.dockerSocket ? { socketPath: opts.dockerSocket } : {});
  const probe = (): Promise<string> => engine.version(AbortSignal.any([signal, AbortSignal.timeout(ENGINE_PROBE_MS)])).then((v) => v.version);
  let engineVersion = "";
  let offline: string | undefined;
  try {
    engineVersion = await probe();
    logger.info({ docker: engineVersion }, `Docker engine ${engineVersion}`);
  } catch (err) {
    offline = `Docker engine not reachable (${(err as Error).message}): rentals and mining are off until it answers`;
    logger.warn(offline);
    notices.push(offline);
  }

  const { helperDir } = sshStatePaths(opts.stateDir);
  const helper = await prepareSftpHelper(helperDir).then(
    () => ({ source: helperDir, target: SFTP_MOUNT_POINT }),
    (err: Error) => {
      const notice = `scp/sftp into rentals unavailable: ${err.message}`;
      logger.warn(notice);
      notices.push(notice);
      return undefined;
    },
  );
  // Before any rental runs or is adopted: where the firewall cannot be managed, the notice says rentals are not isolated.
  const networks = await openRentalNetworks({ nodeId: deps.nodeId, isolation: opts.rentalIsolation, egressAllow: opts.rentalEgressAllow }, { engine, logger: logger.child({ part: "network" }) }, signal);
  if (networks.notice) notices.push(networks.notice);
  const ssh = await openRentalSsh(opts, { engine, logger: logger.child({ part: "ssh" }), notices });
  const allocation = new GpuAllocation(deps.gpus);
  const mining: MiningControl & { start?(s: AbortSignal): Promise<void>; close?(): Promise<void> } = opts.enableMining
    ? new MiningSupervisor(
        { ...defaultMiningOptions, enabled: true, image: opts.miningImage, dataDir: opts.miningDataDir, args: opts.miningArgs, env: opts.miningEnv, nodeId: deps.nodeId },
        { engine, allocation, deviceId: String, logger: logger.child({ part: "mining" }) },
      )
    : NO_MINING;
  // One puller for rentals and -prepull: a rental asking for an image being pre-pulled joins that pull.
  const puller = new ImagePuller({ stallTimeoutMs: opts.pullStallTimeoutMs, reportEveryMs: 1_000 }, { engine, logger: logger.child({ part: "pull" }), metrics: deps.metrics });
  const rentals = new RentalService(
    { nodeId: deps.nodeId, host: deps.host, sshUser: DEFAULT_LOGIN_USER, defaultStopTimeoutSec: 10, defaults: defaultRentalDefaults(totalmem(), availableParallelism()), endedRetentionMs: opts.endedRetentionMs, endedInHeartbeat: ENDED_IN_HEARTBEAT, ...(opts.rentalDiskLimitBytes ? { diskLimitBytes: opts.rentalDiskLimitBytes } : {}) },
    {
      engine,
      allocation,
      mining,
      ssh: ssh.listeners,
      puller,
      secrets: new RentalSecrets(join(opts.stateDir, "rentals")),
      networks,
      notice: (text) => {
        if (!notices.includes(text)) notices.push(text);
      },
      gpuUuid: (i) => deps.gpus().find((g) => g.index === i)?.uuid ?? "",
      helper,
      report: deps.report,
      logger: logger.child({ part: "rentals" }),
    },
  );

  let watching: Promise<void> | undefined;
  // Order matters: rentals first take back their GPUs, then mining fills the free ones.
  const turnOn = async (): Promise<void> => {
    await rentals.adopt(signal);
    await ssh.reconcile();
    await mining.start?.(signal);
    watching = rentals.run(signal);
    for (const image of opts.prepull) {
      puller.ensure(image, () => {}, signal).then(
        () => logger.info({ image }, "image present (-prepull)"),
        (err: unknown) => logger.warn({ image, reason: (err as Error).message }, "pre-pull failed"),
      );
    }
  };
  let waiting: Promise<void> | undefined;
  if (offline === undefined) await turnOn();
  else {
    const notice = offline;
    rentals.unavailable = notice;
    waiting = untilEngine(probe, turnOn, signal).then(
      (version) => {
        engineVersion = version;
        rentals.unavailable = undefined;
        if (notices.includes(notice)) notices.splice(notices.indexOf(notice), 1);
        logger.info({ docker: version }, `Docker engine ${version} answers now: rentals and mining are on`);
      },
      () => undefined, // the daemon stopped first
    );
  }

  const miningOn = (index: number): boolean => mining.status().some((m) => m.gpuIndex === index && m.state === MinerState.MINER_STATE_RUNNING);
  return {
    get engineVersion() {
      return engineVersion;
    },
    rentals,
    mining,
    activity: {
      assignmentOf: (index) => {
        const rentalId = allocation.holderOf(index);
        if (rentalId) return { activity: GpuActivity.GPU_ACTIVITY_RENTED, rentalId };
        return { activity: miningOn(index) ? GpuActivity.GPU_ACTIVITY_MINING : GpuActivity.GPU_ACTIVITY_FREE };
      },
    },
    close: async () => {
      await waiting; // ends with the daemon's signal
      rentals.close();
      await mining.close?.();
      await watching;
      await ssh.close();
    },
  };
}

/** Probes with backoff until the engine answers and turnOn() succeeds; rejects when signal aborts. */
async function untilEngine(probe: () => Promise<string>, turnOn: () => Promise<void>, signal: AbortSignal): Promise<string> {
  const backoff = new Backoff(ENGINE_RETRY);
  for (;;) {
    await sleep(backoff.next(), signal);
    try {
      const version = await probe();
      await turnOn();
      return version;
    } catch (err) {
      if (signal.aborted) throw err;
    }
  }
}
