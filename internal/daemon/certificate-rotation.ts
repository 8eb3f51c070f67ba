import type { Logger } from "pino";
import { CLOCK_SKEW_MS } from "../certs/validity.js";
import { newKeyAndCsr } from "../certs/csr-process.js";
import type { HubLink } from "../channel/hub-link.js";
import { isAbortError, sleep } from "../util/abort.js";
import type { NodeIdentity, Validity } from "./node-identity.js";

export interface RotationOptions {
  /** Renew once this share of the certificate's lifetime has passed. */
  renewAtFraction: number;
  retryMs: number;
}

export const defaultRotationOptions: RotationOptions = { renewAtFraction: 2 / 3, retryMs: 30_000 };

/** setTimeout cannot wait longer than about 24.8 days; long waits are taken in steps. */
const MAX_SLEEP_MS = 24 * 3_600_000;

/**
 * Renews the node certificate over the existing mTLS channel with a new key, before it expires,
 * without the wallet. If it expires anyway, the link's refusal path signs in again.
 */
export class CertificateRotation {
  constructor(
    private readonly opts: RotationOptions,
    private readonly deps: { identity: NodeIdentity; link: HubLink; logger: Logger; onRotated: () => Promise<void> },
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    try {
      for (;;) {
        await this.waitUntilDue(signal);
        try {
          await this.rotate(signal);
        } catch (err) {
          if (isAbortError(err, signal)) throw err;
          const left = this.deps.identity.current.notAfter.getTime() - Date.now();
          const retry = Math.max(1_000, Math.min(this.opts.retryMs, left / 4));
          this.deps.logger.warn({ err, retryInMs: retry }, "certificate renewal failed; will retry");
          await sleep(retry, signal);
        }
      }
    } catch (err) {
      if (!isAbortError(err, signal)) throw err;
    }
  }

  renewAt(v: Validity): number {
    const issued = v.notBefore.getTime() + CLOCK_SKEW_MS; // the CA backdates notBefore for clock skew
    return issued + (v.notAfter.getTime() - issued) * this.opts.renewAtFraction;
  }

  private async waitUntilDue(signal: AbortSignal): Promise<void> {
    for (;;) {
      const wait = this.renewAt(this.deps.identity.current) - Date.now();
      if (wait <= 0) return;
      await sleep(Math.min(wait, MAX_SLEEP_MS), signal);
    }
  }

  private async rotate(signal: AbortSignal): Promise<void> {
    const { identity, link, logger } = this.deps;
    const { keyPem, csrPem } = await newKeyAndCsr("gpu-node", signal);
    const bundle = await link.renewCertificate(csrPem, signal);
    await identity.replace({ ...identity.credentials, keyPem, clientCertPem: bundle.clientCertPem, serverCertPem: bundle.serverCertPem, caCertPem: bundle.caCertPem });
    logger.info({ serial: bundle.serial, notAfter: bundle.notAfter }, `certificate renewed; valid until ${bundle.notAfter}`);
    await this.deps.onRotated();
  }
}
