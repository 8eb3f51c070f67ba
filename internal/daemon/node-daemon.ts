import type { Wallet } from "ethers";
import type { Logger } from "pino";
import { CertDir } from "../certs/cert-dir.js";
import { CommandDispatcher } from "../channel/command-dispatcher.js";
import { defaultHubLinkOptions, HubLink } from "../channel/hub-link.js";
import { enroll } from "../enroll/enroll.js";
import { establishHubTrust } from "../enroll/hub-trust.js";
import { machineFingerprint } from "../enroll/machine-id.js";
import type { GpuSource } from "../gpu/gpu-source.js";
import { parseHostPort } from "../grpc/host-port.js";
import type { HttpTarget } from "../httpclient/json-client.js";
import { NodeApiServer } from "../nodeapi/node-api-server.js";
import { detectGpuSource } from "../nvml/detect-gpu-source.js";
import { withGpuOverrides } from "../nvml/overrides.js";
import { guessPublicAddress, reserveFreePort } from "../util/net.js";
import { loadWallet } from "../wallet/private-key.js";
import { CertificateRotation, defaultRotationOptions } from "./certificate-rotation.js";
import { commandHandlers } from "./command-handlers.js";
import { ALL_GPUS_FREE } from "./gpu-activity.js";
import { NodeIdentity } from "./node-identity.js";
import { NodeStatus } from "./node-status.js";
import { DEFAULT_HUB_HTTP_PORT, type DaemonOptions } from "./options.js";
import { startWorkloads, type Workloads } from "./workloads.js";

export class DaemonConfigError extends Error {
  override readonly name = "DaemonConfigError";
}

/**
 * The composition root of node-daemon: the daemon's whole life in order (wallet, GPUs, hub
 * trust, enrolment, channel, node API, rotation), and its shutdown in reverse.
 */
export class NodeDaemon {
  private readonly abort = new AbortController();
  private readonly closers: Array<() => Promise<void> | void> = [];
  private readonly running: Promise<void>[] = [];
  link!: HubLink;
  identity!: NodeIdentity;
  workloads?: Workloads;

  private constructor(
    private readonly opts: DaemonOptions,
    private readonly logger: Logger,
  ) {}

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
    const { opts, logger } = this;
    const signal = this.abort.signal;

    const { wallet, warnings } = await loadWallet({ file: opts.privateKeyFile, flag: opts.privateKey });
    for (const w of warnings) logger.warn(w);
    logger.info({ wallet: wallet.address }, `wallet ${wallet.address}`);

    const hub = this.hubTarget();
    const notices: string[] = [];
    const gpus = await this.openGpus(notices);
    this.closers.push(() => gpus.close());

    const certDir = new CertDir(opts.certDir);
    hub.ca = await establishHubTrust({ hubHttpUrl: hub.baseUrl, pinnedFingerprint: opts.hubCaFingerprint, signal }, { certDir, logger });

    const host = this.publicHost();
    const apiPort = opts.apiPort === 0 ? await reserveFreePort(opts.apiListenHost) : opts.apiPort;
    const status: NodeStatus = new NodeStatus(
      { host, apiPort, pricePerSecWei: opts.pricePerSecWei },
      {
        gpus,
        activity: { assignmentOf: (i) => (this.workloads?.activity ?? ALL_GPUS_FREE).assignmentOf(i) },
        notices,
        dockerVersion: () => this.workloads?.engineVersion ?? "",
        rentals: () => this.workloads?.rentals.list() ?? [],
        miners: () => this.workloads?.mining.status() ?? [],
        link: () => ({ connected: this.link?.connected ?? false, heartbeatsSent: this.link?.heartbeatsSent ?? 0 }),
        identity: () => ({ nodeId: this.identity.nodeId, certificateNotAfter: this.identity.current.notAfter.toISOString() }),
      },
    );

    const signIn = async (previousNodeId?: string) =>
      enroll(
        {
          hub,
          siweDomain: opts.siweDomain ?? new URL(hub.baseUrl).host,
          siweUri: new URL(hub.baseUrl).origin,
          chainId: opts.chainId,
          machineId: await machineFingerprint(opts.certDir),
          previousNodeId,
        },
        await status.info(signal),
        { wallet, logger, signal },
      );
    this.identity = await this.loadOrEnroll(certDir, signIn);
    logger.info({ nodeId: this.identity.nodeId, notAfter: this.identity.current.notAfter }, `node ${this.identity.nodeId}; certificate valid until ${this.identity.current.notAfter.toISOString()}`);

    await status.info(signal); // the GPU inventory rentals and mining allocate from
    this.workloads = await startWorkloads(
      opts,
      { nodeId: this.identity.nodeId, host, gpus: () => status.knownGpus(), report: (body) => this.link?.notify(body), logger: logger.child({ part: "workloads" }), signal },
      notices,
    );
    if (this.workloads) this.closers.push(() => this.workloads?.close());

    const nodeApi = new NodeApiServer({ host: opts.apiListenHost, port: apiPort }, { status: () => status.status(signal) });
    await nodeApi.start(this.identity.credentials);
    this.closers.push(() => nodeApi.stop());
    logger.info({ apiPort }, `node API on port ${apiPort} (hub identity only)`);

    const dispatcher = new CommandDispatcher({ rememberIds: 4096 }, { handlers: commandHandlers({ status, rentals: () => this.workloads?.rentals }), logger: logger.child({ part: "commands" }) });
    this.link = new HubLink(
      { ...defaultHubLinkOptions, target: opts.hub },
      {
        logger: logger.child({ part: "link" }),
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
    this.link.on("heartbeat", (seq) => logger.info({ seq }, `heartbeat #${seq} sent`));
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

  private hubTarget(): HttpTarget {
    const { opts } = this;
    const grpc = parseHostPort(opts.hub, "-hub");
    const baseUrl = opts.hubHttp ?? `https://${grpc.host.includes(":") ? `[${grpc.host}]` : grpc.host || "localhost"}:${DEFAULT_HUB_HTTP_PORT}`;
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
    for (const close of this.closers.reverse()) {
      try {
        await close();
      } catch (err) {
        this.logger.warn({ err }, "error while shutting down");
      }
    }
    this.closers.length = 0;
  }
}

export type { Wallet };
