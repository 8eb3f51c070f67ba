import { access } from "node:fs/promises";
import { readContainerToolkitVersion } from "../gpu/container-toolkit.js";
import type { Wallet } from "ethers";
import type { Logger } from "pino";
import { Closers } from "../util/closers.js";
import { CertDir } from "../certs/cert-dir.js";
import { CommandDispatcher } from "../channel/command-dispatcher.js";
import { defaultHubLinkOptions, HubLink } from "../channel/hub-link.js";
import { ControlServer } from "../control/control-server.js";
import { enroll } from "../enroll/enroll.js";
import { establishHubTrust } from "../enroll/hub-trust.js";
import { machineFingerprint } from "../enroll/machine-id.js";
import type { GpuSource } from "../gpu/gpu-source.js";
import type { HttpTarget } from "../httpclient/json-client.js";
import { createDaemonMetrics, type DaemonMetrics, readDaemonGauges } from "../metrics/daemon-metrics.js";
import { processRegistry, startMetricsServer } from "../metrics/metrics-server.js";
import { NodeApiServer } from "../nodeapi/node-api-server.js";
import { detectGpuSource } from "../nvml/detect-gpu-source.js";
import { withGpuOverrides } from "../nvml/overrides.js";
import { guessPublicAddress, reserveFreePort } from "../util/net.js";
import { loadWallet } from "../wallet/private-key.js";
import { trimMallocPeriodically } from "../memory/malloc-trim.js";
import { CertificateRotation, defaultRotationOptions } from "./certificate-rotation.js";
import { commandHandlers } from "./command-handlers.js";
import { DrainState } from "./drain-state.js";
import { ALL_GPUS_FREE } from "./gpu-activity.js";
import { NodeIdentity } from "./node-identity.js";
import { NodeStatus } from "./node-status.js";
import { controlSocketPath, type DaemonOptions, HUB_AUTO, hubHttpBaseUrl } from "./options.js";
import { workloadOwner } from "./workload-owner.js";
import { startWorkloads, type Workloads } from "./workloads.js";
import { AppError } from "../errors/app-error.js";
import { pendingUpdateFile } from "../update/pending-file.js";
import { VERSION } from "../version.js";

export class DaemonConfigError extends AppError {
  readonly code = "daemon_config";
  override readonly shownToUser = true;
  override readonly name = "DaemonConfigError";
}

/**
 * The composition root of node-daemon: the daemon's whole life in order (wallet, GPUs, hub
 * trust, enrolment, channel, node API, rotation), and its shutdown in reverse.
 *
 * What only some starts need is imported where it is used, not above, to keep the idle daemon
 * small (bench/daemon-memory.ts): LAN discovery (bonjour-service) for -hub auto, the updater (zod)
 * when an update waits. Signing in and making CSRs (siwe, ethers, @peculiar/x509) run in helper
 * processes (internal/helper-process/), so the daemon never loads those at all.
 */
export class NodeDaemon {
  private readonly abort = new AbortController();
  private readonly closers: Closers;
  private readonly running: Promise<void>[] = [];
  link!: HubLink;
  identity!: NodeIdentity;
  workloads?: Workloads;
  drain!: DrainState;
  /** Where /metrics is served, when it is. */
  metricsUrl?: string;
  private status?: NodeStatus;

  private constructor(
    /** As given, except that -hub auto becomes the hub found on the LAN. */
    private opts: DaemonOptions,
    private readonly logger: Logger,
  ) {
    this.closers = new Closers(logger);
  }

  static async start(opts: DaemonOptions, deps: { logger: Logger }): Promise<NodeDaemon> {
    const daemon = new NodeDaemon(opts, deps.logger);
    try {
      await daemon.init();
    } catch (err) {
      await daemon.close();
      throw err;
    }
    return daemon;
  }

  private async init(): Promise<void> {
    if (this.opts.hub === HUB_AUTO) this.opts = await this.findHub();
    const { opts, logger } = this;
    const signal = this.abort.signal;

    const { wallet, warnings } = await loadWallet({ file: opts.privateKeyFile, key: opts.privateKey });
    for (const w of warnings) logger.warn(w);
    logger.info({ wallet: wallet.address }, `wallet ${wallet.address}`);

    // Before anything else touches the state dir: the control socket also tells whether another daemon uses it.
    this.drain = await DrainState.load(opts.stateDir);
    if (this.drain.draining) logger.warn({ since: this.drain.since }, `draining since ${this.drain.since}: taking no new rentals (node-daemon undrain lifts it)`);
    await this.startControl();
    const metrics = await this.startMetrics();

    const hub = this.hubTarget();
    const notices: string[] = [];
    const gpus = await this.openGpus(notices);
    this.closers.push(() => gpus.close());
    // The daemon idles for hours: what malloc kept free after a burst goes back to the system.
    this.closers.push(trimMallocPeriodically());

    const certDir = new CertDir(opts.certDir);
    hub.ca = await establishHubTrust({ hubHttpUrl: hub.baseUrl, pinnedFingerprint: opts.hubCaFingerprint, signal }, { certDir, logger });

    const toolkit = await readContainerToolkitVersion({ timeoutMs: 5_000, signal });
    if (toolkit) logger.info({ containerToolkit: toolkit }, `NVIDIA Container Toolkit ${toolkit}`);
    const host = this.publicHost();
    const apiPort = opts.apiPort === 0 ? await reserveFreePort(opts.apiListenHost) : opts.apiPort;
    const status: NodeStatus = new NodeStatus(
      { host, apiPort, pricePerSecWei: opts.pricePerSecWei, hubAddress: opts.hub },
      {
        gpus,
        activity: { assignmentOf: (i) => (this.workloads?.activity ?? ALL_GPUS_FREE).assignmentOf(i) },
        notices,
        dockerVersion: () => this.workloads?.engineVersion ?? "",
        containerToolkitVersion: () => toolkit,
        rentals: () => this.workloads?.rentals.list() ?? [],
        miners: () => this.workloads?.mining.status() ?? [],
        link: () => ({ connected: this.link?.connected ?? false, heartbeatsSent: this.link?.heartbeatsSent ?? 0, reconnects: this.link?.reconnects ?? 0, lastHeartbeatAt: this.link?.lastHeartbeatAt }),
        identity: () => (this.identity ? { nodeId: this.identity.nodeId, certificateNotAfter: this.identity.current.notAfter.toISOString() } : undefined),
        draining: () => this.drain.draining,
        metrics,
      },
    );
    this.status = status;

    const signIn = async (previousNodeId?: string) =>
      enroll(
        {
          hub,
          siweDomain: opts.siweDomain,
          chainId: opts.chainId,
          machineId: await machineFingerprint(opts.certDir),
          previousNodeId,
        },
        await status.info(signal),
        { signer: wallet, logger, signal },
      );
    this.identity = await this.loadOrEnroll(certDir, signIn);
    logger.info({ nodeId: this.identity.nodeId, notAfter: this.identity.current.notAfter }, `node ${this.identity.nodeId}; certificate valid until ${this.identity.current.notAfter.toISOString()}`);

    await status.info(signal); // the GPU inventory rentals and mining allocate from
    const owner = await workloadOwner(opts.stateDir, this.identity.nodeId);
    if (owner !== this.identity.nodeId) logger.info({ labelledAs: owner }, `rentals and miners stay labelled as node ${owner}, this machine's first node id`);
    this.workloads = await startWorkloads(
      opts,
      { nodeId: owner, host, gpus: () => status.knownGpus(), report: (body) => this.link?.notify(body), logger: logger.child({ part: "workloads" }), metrics, signal },
      notices,
    );
    if (this.workloads) this.closers.push(() => this.workloads?.close());

    const nodeApi = new NodeApiServer({ host: opts.apiListenHost, port: apiPort }, { status: () => status.status(signal) });
    await nodeApi.start(this.identity.credentials);
    this.closers.push(() => nodeApi.stop());
    logger.info({ apiPort }, `node API on port ${apiPort} (hub identity only)`);

    const dispatcher = new CommandDispatcher(
      { rememberIds: 4096 },
      { handlers: commandHandlers({ status, rentals: () => this.workloads?.rentals, draining: () => this.drain.draining }), logger: logger.child({ part: "commands" }), metrics },
    );
    this.link = new HubLink(
      { ...defaultHubLinkOptions, target: opts.hub },
      {
        logger: logger.child({ part: "link" }),
        metrics,
        credentials: () => this.identity.credentials,
        unusable: () => (this.identity.expired() ? "the node certificate has expired" : undefined),
        hello: async () => ({ nodeId: this.identity.nodeId, info: await status.info(signal) }),
        heartbeat: (seq) => status.heartbeat(seq, signal),
        dispatcher,
        onRefused: async () => {
          await this.identity.replace(await signIn(this.identity.nodeId));
          await nodeApi.start(this.identity.credentials);
        },
      },
    );
    this.link.on("connected", (w) => logger.info({ hubVersion: w.hubVersion, heartbeatIntervalMs: w.heartbeatIntervalMs }, "connected to the hub over mTLS"));
    // The first heartbeat of a connection at info (the link works); the rest, every interval, at debug.
    let firstOnStream = true;
    this.link.on("connected", () => (firstOnStream = true));
    this.link.on("heartbeat", (seq) => {
      if (firstOnStream) logger.info({ seq }, `heartbeat #${seq} sent (the next ones are logged at debug)`);
      else logger.debug({ seq }, `heartbeat #${seq} sent`);
      firstOnStream = false;
    });
    // The first Welcome of this version is the word `node-daemon update` waits for before it keeps it.
    this.link.once("connected", () => void this.confirmUpdate());
    this.running.push(this.link.run(signal));

    const rotation = new CertificateRotation(defaultRotationOptions, {
      identity: this.identity,
      link: this.link,
      logger: logger.child({ part: "rotation" }),
      onRotated: async () => {
        this.link.reconnect("certificate rotated");
        await nodeApi.start(this.identity.credentials);
      },
    });
    this.running.push(rotation.run(signal));
  }

  /** `node-daemon status|drain|undrain` reach the daemon here (owner-only unix socket). */
  private async startControl(): Promise<void> {
    const socketPath = controlSocketPath(this.opts.stateDir);
    const control = new ControlServer(
      { socketPath },
      {
        logger: this.logger.child({ part: "control" }),
        signal: this.abort.signal,
        handlers: {
          status: async (signal) => {
            if (!this.status) throw new Error("the daemon is still starting (GPUs, hub trust); ask again in a moment");
            return this.status.status(signal);
          },
          setDraining: async (draining) => {
            const changed = await this.drain.set(draining);
            // The hub hears it at once, not at the next heartbeat; offline, the next Hello carries it.
            const hubTold = (await this.link?.heartbeatNow()) ?? false;
            return { draining: this.drain.draining, changed, hubTold };
          },
        },
      },
    );
    await control.start();
    this.closers.push(() => control.close());
    this.logger.info({ socket: socketPath }, `control socket ${socketPath} (node-daemon status, drain, undrain)`);
  }

  /** Tells a waiting `node-daemon update` that this version reached the hub (nothing when no update waits for it). */
  private async confirmUpdate(): Promise<void> {
    try {
      // Without the pending file (most starts) confirmUpdate() does nothing: no need to load the updater.
      if (!(await access(pendingUpdateFile(this.opts.installRoot)).then(() => true, () => false))) return;
      const { confirmUpdate } = await import("../update/updater.js");
      const confirmed = await confirmUpdate(this.opts.installRoot, VERSION);
      if (confirmed) this.logger.info({ event: "update-confirmed", from: confirmed.from, to: confirmed.to }, `update ${confirmed.from} -> ${confirmed.to} confirmed: this version reached the hub`);
    } catch (err) {
      this.logger.warn({ err }, `could not confirm the update to ${VERSION} in ${this.opts.installRoot}/updates: node-daemon update will put the previous version back`);
    }
  }

  /** Prometheus metrics: null when -metrics-listen is empty. */
  private async startMetrics(): Promise<DaemonMetrics | null> {
    const listen = this.opts.metricsListen;
    if (!listen) return null;
    const register = processRegistry();
    const metrics = createDaemonMetrics(register);
    readDaemonGauges(metrics, {
      hubConnected: () => this.link?.connected ?? false,
      draining: () => this.drain.draining,
      certificateNotAfter: () => this.identity?.current.notAfter,
      rentals: () => this.workloads?.rentals.list() ?? [],
      miners: () => this.workloads?.mining.status() ?? [],
    });
    const server = await startMetricsServer(listen, register);
    this.closers.push(() => server.close());
    this.metricsUrl = server.url;
    this.logger.info({ event: "metrics", port: server.port, url: server.url }, `metrics on ${server.url}`);
    return metrics;
  }

  /** -hub auto: the hub announced on the LAN (the pinned one, or the only one); with no pin, its announced CA is pinned. */
  private async findHub(): Promise<DaemonOptions> {
    const { opts, logger } = this;
    logger.info("-hub auto: looking for a hub on the LAN (mDNS) for 5 s");
    const { chooseHub, findHubs } = await import("../discovery/hub-finder.js");
    const hub = chooseHub(await findHubs({ timeoutMs: 5_000, signal: this.abort.signal }), opts.hubCaFingerprint);
    const host = hub.address.includes(":") ? `[${hub.address}]` : hub.address;
    logger.info({ hub: hub.name, address: hub.address, grpcPort: hub.grpcPort, caFingerprint: hub.caFingerprint }, `found the hub ${hub.name} at ${hub.address}`);
    if (!opts.hubCaFingerprint) logger.warn({ caFingerprint: hub.caFingerprint }, `no -hub-ca-fingerprint: pinned the CA the hub on the LAN announced, ${hub.caFingerprint}; set -hub-ca-fingerprint to be sure it is yours`);
    return { ...opts, hub: `${host}:${hub.grpcPort}`, hubHttp: opts.hubHttp ?? `${hub.scheme}://${host}:${hub.httpPort}`, hubCaFingerprint: hub.caFingerprint };
  }

  private hubTarget(): HttpTarget {
    const { opts } = this;
    const baseUrl = hubHttpBaseUrl(opts);
    const url = new URL(baseUrl);
    if (url.protocol === "http:" && !opts.insecureHttp) {
      throw new DaemonConfigError(`-hub-http ${baseUrl} is plain HTTP: the sign-in and your certificate would cross the network unprotected; use https://, or add -insecure-http for a hub on this machine`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new DaemonConfigError(`-hub-http ${baseUrl} must be an https:// URL`);
    return { baseUrl: url.origin };
  }

  private publicHost(): string {
    if (this.opts.host) return this.opts.host;
    const guessed = guessPublicAddress() ?? "127.0.0.1";
    this.logger.warn({ host: guessed }, `-host not set: advertising ${guessed}; renters connect to this address, so set -host to the machine's public IP or name`);
    return guessed;
  }

  private async openGpus(notices: string[]): Promise<GpuSource> {
    const { source, notice } = await detectGpuSource({ nvmlLibraryPath: this.opts.nvmlLibrary, logger: this.logger, signal: this.abort.signal });
    if (notice) notices.push(notice);
    return withGpuOverrides(source, { gpuType: this.opts.gpuType, memoryGb: this.opts.memoryGb });
  }

  /** Existing credentials are used as they are; missing or expired ones mean a fresh sign-in. */
  private async loadOrEnroll(certDir: CertDir, signIn: (previousNodeId?: string) => Promise<import("../certs/cert-dir.js").NodeCredentials>): Promise<NodeIdentity> {
    const saved = await certDir.load();
    if (saved) {
      const identity = new NodeIdentity(saved, certDir);
      if (!identity.expired()) return identity;
      this.logger.warn({ notAfter: identity.current.notAfter }, "the node certificate has expired; signing in again");
      await identity.replace(await signIn(saved.nodeId));
      return identity;
    }
    const fresh = await signIn(await certDir.loadNodeId());
    await certDir.save(fresh);
    return new NodeIdentity(fresh, certDir);
  }

  /** Stops the daemon's own work. Rentals (when they exist) keep running: they are adopted at the next start. */
  async close(): Promise<void> {
    this.abort.abort(new Error("daemon stopping"));
    await Promise.allSettled(this.running);
    await this.closers.closeAll();
  }
}

export type { Wallet };
