import { EventEmitter } from "node:events";
import type { Server as HttpsServer } from "node:https";
import { experimental, type ServerCredentials } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { CertificateAuthority, HubIdentity } from "../../certs/authority.js";
import type { HubClientIdentity } from "../node-api-client.js";

type CertificateProvider = Parameters<typeof experimental.createCertificateProviderServerCredentials>[0];
type CaListener = Parameters<CertificateProvider["addCaCertificateListener"]>[0];
type IdentityListener = Parameters<CertificateProvider["addIdentityCertificateListener"]>[0];

export interface HubTlsOptions {
  /** Names and addresses the server certificate is for. */
  hosts: string[];
  lifetimeMs: number;
  /** A failed renewal is tried again after this long (at most, and never past the certificate's end). */
  retryMs: number;
}

/**
 * The hub's own key and certificates (HTTPS, the nodes' gRPC, its client identity towards nodes),
 * renewed at two thirds of their lifetime without a restart: HTTPS and gRPC swap their secure
 * context in place, so open streams stay up and the next handshake gets the new certificate.
 */
export class HubTls extends EventEmitter<{ renewed: [identity: HubIdentity] }> implements CertificateProvider {
  private timer: NodeJS.Timeout | undefined;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly httpsServers = new Set<HttpsServer>();
  private closed = false;

  private constructor(
    private readonly opts: HubTlsOptions,
    private readonly ca: CertificateAuthority,
    private readonly logger: Logger,
    private identity: HubIdentity,
  ) {
    super();
  }

  static async start(opts: HubTlsOptions, ca: CertificateAuthority, logger: Logger): Promise<HubTls> {
    const tls = new HubTls(opts, ca, logger, await ca.issueHubIdentity(opts.hosts, opts.lifetimeMs));
    tls.scheduleRenewal();
    return tls;
  }

  get current(): HubIdentity {
    return this.identity;
  }

  /** The hub's client identity for calling nodes: read at each call, so it is always the current one. */
  clientIdentity(): HubClientIdentity {
    return { caCertPem: this.ca.certPem, keyPem: this.identity.keyPem, clientCertPem: this.identity.clientCertPem };
  }

  /** Credentials for the nodes' gRPC server: mutual TLS against the hub CA, with this identity as it renews. */
  grpcCredentials(): ServerCredentials {
    return experimental.createCertificateProviderServerCredentials(this, this, true);
  }

  /** The options an HTTPS server starts with; it follows every renewal once watched. */
  httpsOptions(): { key: string; cert: string; ca: string } {
    return { key: this.identity.keyPem, cert: this.identity.serverCertPem, ca: this.ca.certPem };
  }

  watchHttps(server: HttpsServer): void {
    this.httpsServers.add(server);
    server.once("close", () => this.httpsServers.delete(server));
  }

  /** Issues a fresh key and certificates now and hands them to every server. */
  async renew(): Promise<HubIdentity> {
    const next = await this.ca.issueHubIdentity(this.opts.hosts, this.opts.lifetimeMs);
    this.identity = next;
    for (const server of this.httpsServers) server.setSecureContext(this.httpsOptions());
    for (const listener of this.identityListeners) listener(this.identityUpdate());
    this.logger.info({ notAfter: next.notAfter.toISOString() }, "hub certificate renewed");
    this.emit("renewed", next);
    return next;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  // grpc-js's CertificateProvider. Listeners hear the current value on the next tick, as grpc-js
  // expects of a provider: its server starts watching before it can take an update.
  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    process.nextTick(() => this.caListeners.has(listener) && listener({ caCertificate: Buffer.from(this.ca.certPem) }));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    process.nextTick(() => this.identityListeners.has(listener) && listener(this.identityUpdate()));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  private identityUpdate() {
    return { certificate: Buffer.from(this.identity.serverCertPem), privateKey: Buffer.from(this.identity.keyPem) };
  }

  /** At two thirds of the lifetime; a certificate the CA's own end cuts short is renewed every retryMs. */
  private scheduleRenewal(delayMs = this.renewalDelayMs() > 0 ? this.renewalDelayMs() : this.opts.retryMs): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    // setTimeout's limit is about 24.8 days: a longer wait wakes early and sleeps again.
    this.timer = setTimeout(() => void this.onTimer(), Math.min(Math.max(0, delayMs), 2 ** 31 - 1));
    this.timer.unref();
  }

  private renewalDelayMs(): number {
    const remaining = this.identity.notAfter.getTime() - Date.now();
    return remaining - this.opts.lifetimeMs / 3;
  }

  private async onTimer(): Promise<void> {
    if (this.renewalDelayMs() > 0) return this.scheduleRenewal();
    try {
      await this.renew();
      this.scheduleRenewal();
    } catch (err) {
      const remaining = this.identity.notAfter.getTime() - Date.now();
      this.logger.error({ err, notAfter: this.identity.notAfter.toISOString() }, "renewing the hub certificate failed; trying again");
      this.scheduleRenewal(Math.min(this.opts.retryMs, Math.max(0, remaining / 2)));
    }
  }
}
