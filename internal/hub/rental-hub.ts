import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Server as GrpcServer } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { Closers } from "../util/closers.js";
import { NonceStore } from "../auth/nonce-store.js";
import { SessionTokens } from "../auth/session-tokens.js";
import { SessionSignOuts } from "./access/session-sign-outs.js";
import { SiweVerifier, type SiwePolicy } from "../auth/siwe-verifier.js";
import { CertificateAuthority } from "../certs/authority.js";
import { formatHostPort } from "../grpc/host-port.js";
import { createHubMetrics, serveHubMetrics } from "../metrics/hub-metrics.js";
import { processRegistry } from "../metrics/metrics-server.js";
import { VERSION } from "../version.js";
import { getCa, getCaPem, health } from "../hubapi/hub.js";
import { HubChannel } from "./channel/hub-channel.js";
import { startHubGrpcServer } from "./channel/grpc-server.js";
import { stopGrpcServer } from "../grpc/stop-server.js";
import { HeartbeatBuffer } from "./heartbeat-buffer.js";
import type { GpuHistory } from "./gpu-history.js";
import { addAuthRoutes } from "./http/auth-routes.js";
import { addDashboardRoutes } from "./dashboard/dashboard-routes.js";
import { addEventRoutes } from "./http/events-routes.js";
import { addGpuHistoryRoutes } from "./http/gpu-history-routes.js";
import { addOpenApiRoute } from "./http/openapi-routes.js";
import { addNodeRoutes } from "./http/node-routes.js";
import { RateLimiter } from "./http/rate-limit.js";
import { ClientAddress } from "./http/client-address.js";
import { capConnectionsPerAddress, timeoutOptions } from "./http/connection-limits.js";
import { addRentalRoutes } from "./http/rental-routes.js";
import { addReleaseRoutes } from "./http/release-routes.js";
import { ReleaseCatalog, releasesDir } from "./releases/release-store.js";
import { RentalBook } from "./rentals/rental-book.js";
import { PaidRentals } from "./billing/paid-rentals.js";
import { RentalViews } from "./http/rental-views.js";
import { addPaymentRoutes } from "./http/payment-routes.js";
import { Router } from "./http/router.js";
import type { HubOptions } from "./options.js";
import { Presence } from "./presence.js";
import { HubTls } from "./tls/hub-tls.js";
import { AccessControl } from "./access/access-control.js";
import { NodeRegistry } from "./registry/node-registry.js";
import type { HubStore } from "./store/hub-store.js";
import { openHubStore, selectStore } from "./store/open-store.js";
import { holdSingleHub } from "./cluster/single-hub.js";
import { HubCluster } from "./cluster/hub-cluster.js";
import { announceHub } from "../discovery/hub-announcer.js";
import { lanAddresses } from "../util/net.js";

/** A failed renewal of the hub's own certificate is tried again this often. */
const HUB_CERT_RETRY_MS = 60_000;

export interface RunningHubInfo {
  grpcPort: number;
  httpPort: number;
  httpUrl: string;
  caFingerprint: string;
  siweDomain: string;
  /** Prometheus /metrics, when served. */
  metricsUrl?: string;
}

/** The composition root of rental-hub: builds every part in order and closes them in reverse. */
export class RentalHub {
  private readonly closers: Closers;
  info!: RunningHubInfo;
  caCertPem!: string;
  /** The hub's own certificates, renewed in place. */
  tls!: HubTls;
  /** The operator's bans and revocations, as in force. */
  access!: AccessControl;
  channel!: HubChannel;
  presence!: Presence;
  rentals!: RentalBook;
  /** The last hour of every GPU's metrics, from the heartbeats. */
  gpuHistory!: GpuHistory;
  store!: HubStore;
  /** Present when the hub takes payments on chain. */
  paid: PaidRentals | undefined;
  /** Present on PostgreSQL: this hub as one replica of several. */
  cluster: HubCluster | undefined;

  private constructor(
    private readonly opts: HubOptions,
    private readonly logger: Logger,
  ) {
    this.closers = new Closers(logger);
  }

  static async start(opts: HubOptions, deps: { logger: Logger }): Promise<RentalHub> {
    const hub = new RentalHub(opts, deps.logger);
    try {
      await hub.init();
    } catch (err) {
      await hub.close();
      throw err;
    }
    return hub;
  }

  private async init(): Promise<void> {
    const { opts, logger } = this;
    this.store = await openHubStore({ databaseUrl: opts.databaseUrl, sqliteFile: join(opts.dataDir, "hub.db") });
    this.closers.push(() => this.store.close());
    const stored = selectStore({ databaseUrl: opts.databaseUrl, sqliteFile: join(opts.dataDir, "hub.db") });
    if (stored.engine === "sqlite") {
      const single = await holdSingleHub(stored.file, { store: this.store.leases, logger });
      this.closers.push(() => single.close());
    }

    const ca = await CertificateAuthority.openOrCreate({ dir: join(opts.dataDir, "ca") });
    // On PostgreSQL this hub is one replica of any number: nodes' streams land on any of them.
    const cluster = (this.cluster = stored.engine === "postgres" ? new HubCluster({ databaseUrl: stored.url, caFingerprint: ca.fingerprint, ...(opts.replica ? { replica: opts.replica } : {}) }, { store: this.store, logger }) : undefined);
    if (cluster) {
      await cluster.listen();
      this.closers.push(() => cluster.close());
    }
    this.caCertPem = ca.certPem;
    // Nodes that found the hub on a LAN dial the address it answered from: that address must be in its certificate.
    const hosts = opts.announce ? [...new Set([...opts.publicHosts, ...lanAddresses()])] : opts.publicHosts;
    const hubTls = (this.tls = await HubTls.start({ hosts, lifetimeMs: opts.hubCertLifetimeMs, retryMs: HUB_CERT_RETRY_MS }, ca, logger.child({ part: "tls" })));
    this.closers.push(() => hubTls.close());

    const access = (this.access = new AccessControl({ refreshMs: opts.accessRefreshMs }, { store: this.store.access, logger: logger.child({ part: "access" }) }));
    await access.start();
    this.closers.push(() => access.close());
    const registry = new NodeRegistry({ certLifetimeMs: opts.certLifetimeMs }, { store: this.store, ca, access, logger: logger.child({ part: "registry" }) });
    const presence = (this.presence = new Presence({ intervalMs: opts.heartbeatIntervalMs, offlineAfterMissed: opts.offlineAfterMissed }));
    presence.on("change", (nodeId, status) => logger.info({ nodeId, status }, `node ${status}`));
    this.closers.push(() => presence.close());
    const heartbeats = new HeartbeatBuffer({ flushIntervalMs: opts.heartbeatFlushMs }, { store: this.store, logger });
    await heartbeats.start();
    this.closers.push(() => heartbeats.close());

    const metrics = opts.metricsListen ? createHubMetrics(processRegistry()) : null;
    this.channel = new HubChannel(
      { heartbeatIntervalMs: opts.heartbeatIntervalMs, hubVersion: VERSION },
      { registry, access, presence, heartbeats, logger: logger.child({ part: "channel" }), metrics, ...(cluster ? { ownership: cluster } : {}) },
    );
    const channel = this.channel;
    // What views follow: every node's reports and links, wherever its stream is.
    const fleet = cluster?.fleet ?? channel.events;
    const links = cluster ?? channel;
    const grpc = await startHubGrpcServer(opts.grpcListen, hubTls.grpcCredentials(), this.channel.service);
    this.closers.push(() => this.stopGrpc(grpc.server));

    const router = new Router(logger.child({ part: "http" }));
    const httpServer = opts.insecureHttp
      ? http.createServer(timeoutOptions(opts.connectionLimits), router.handle)
      : https.createServer({ ...timeoutOptions(opts.connectionLimits), ...hubTls.httpsOptions(), minVersion: "TLSv1.2" }, router.handle);
    capConnectionsPerAddress(httpServer, opts.connectionLimits.perAddress);
    if (httpServer instanceof https.Server) hubTls.watchHttps(httpServer);
    const httpPort = await listen(httpServer, opts.httpListen.host, opts.httpListen.port);
    this.closers.push(() => closeHttp(httpServer));

    const publicHost = opts.publicHosts[0] ?? "localhost";
    const scheme = opts.insecureHttp ? "http" : "https";
    const siweDomain = opts.siweDomain ?? formatHostPort({ host: publicHost, port: httpPort });
    const policy: SiwePolicy = { domain: siweDomain, uriOrigin: `${scheme}://${siweDomain}`, chainId: opts.chainId };
    const nonces = new NonceStore({ ttlMs: opts.nonceTtlMs });
    // Signed with a key derived from the CA: every hub that shares the CA accepts them, across restarts.
    const tokens = new SessionTokens({ ttlMs: opts.tokenTtlMs, key: ca.deriveKey("session tokens v1") });
    const signOuts = new SessionSignOuts({ refreshMs: opts.accessRefreshMs }, { tokens, store: this.store.sessions, logger });
    await signOuts.start();
    this.closers.push(() => signOuts.close());
    router.on(health, async () => ({ ok: true as const, version: VERSION }));
    router.on(getCa, async () => ({ caCertPem: ca.certPem, fingerprint: ca.fingerprint }));
    router.on(getCaPem, async ({ res }) => {
      res.writeHead(200, { "content-type": "application/x-pem-file" });
      res.end(ca.certPem);
      return undefined;
    });
    addAuthRoutes(router, {
      policy,
      nonces,
      verifier: new SiweVerifier(policy, { nonces }),
      tokens,
      tokenTtlMs: opts.tokenTtlMs,
      metrics,
      limits: { perIp: new RateLimiter(opts.signInLimits.perIp), perAddress: new RateLimiter(opts.signInLimits.perAddress) },
      access,
      clientAddress: new ClientAddress(opts.trustedProxies),
    });
    // A banned wallet's renter sessions end with the ban.
    const endBannedSessions = (): void => {
      for (const wallet of access.bannedWallets()) if (tokens.revokeAddress(wallet) > 0) logger.info({ wallet }, "ended the sessions of a banned wallet");
    };
    access.on("changed", endBannedSessions);
    endBannedSessions();
    const releases = new ReleaseCatalog(releasesDir(opts.dataDir));
    addNodeRoutes(router, {
      releases,
      tokens,
      registry,
      store: this.store,
      presence,
      heartbeats,
      channel: links,
      hubIdentity: () => hubTls.clientIdentity(),
      logger: logger.child({ part: "nodes" }),
      toolkit: opts.rentals.toolkit,
    });
    this.gpuHistory = addGpuHistoryRoutes(router, { store: this.store, nodeEvents: fleet });

    const paid = (this.paid = opts.chain ? new PaidRentals(opts.chain, { store: this.store, logger }) : undefined);
    if (!paid) logger.info("no -chain-rpc: rentals are free (no payment); see the README's Paid rentals to turn payments on");
    const book = (this.rentals = new RentalBook(opts.rentals, {
      store: this.store,
      channel,
      links,
      presence,
      heartbeats,
      logger: logger.child({ part: "rentals" }),
      metrics,
      ...(paid ? { payments: paid.billing } : {}),
      ...(cluster ? { owners: cluster } : {}),
    }));
    await book.start();
    this.closers.push(() => book.close());
    if (cluster) await cluster.join({ channel, presence, heartbeats, book });
    // A node with rentals that never comes back after a restart must still go offline, or its rentals bill on.
    else for (const nodeId of await book.nodesWithActiveRentals()) presence.adopt(nodeId);
    if (paid) {
      await paid.start(this.rentals);
      this.closers.push(() => paid.close());
    }
    const views = new RentalViews({ book: this.rentals, ...(paid ? { payments: paid.source() } : {}) });
    addRentalRoutes(router, { tokens, store: this.store, book: this.rentals, views });
    addPaymentRoutes(router, { tokens, store: this.store, paid });
    addReleaseRoutes(router, { releases });
    addEventRoutes(router, { releases, tokens, store: this.store, presence, heartbeats, nodeEvents: fleet, isDraining: (id) => links.isDraining(id), book: this.rentals, views, toolkit: opts.rentals.toolkit, logger: logger.child({ part: "events" }) });
    addDashboardRoutes(router, { signOut: (token) => signOuts.signOut(token) });
    addOpenApiRoute(router);

    const served = metrics && opts.metricsListen ? await serveHubMetrics(opts.metricsListen, metrics, { channel: this.channel, presence, rentals: this.store.rentals, ...(paid ? { chain: () => paid.status() } : {}) }) : undefined;
    if (served) this.closers.push(() => served.close());

    if (opts.announce) {
      const announced = announceHub({ grpcPort: grpc.port, httpPort, scheme, caFingerprint: ca.fingerprint, version: VERSION }, logger.child({ part: "announce" }));
      this.closers.push(() => announced.close());
    }

    this.info = { grpcPort: grpc.port, httpPort, httpUrl: `${scheme}://${formatHostPort({ host: publicHost, port: httpPort })}`, caFingerprint: ca.fingerprint, siweDomain, ...(served ? { metricsUrl: served.url } : {}) };
  }

  private async stopGrpc(server: GrpcServer): Promise<void> {
    this.channel.closeAll();
    await stopGrpcServer(server, 2_000);
  }

  async close(): Promise<void> {
    await this.closers.closeAll();
  }
}

function listen(server: http.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host || undefined, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeHttp(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
