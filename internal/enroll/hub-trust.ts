import type { Logger } from "pino";
import type { CertDir } from "../certs/cert-dir.js";
import { certificateFingerprint, normalizeFingerprint } from "../certs/fingerprint.js";
import { requestJson } from "../httpclient/json-client.js";
import { AppError } from "../errors/app-error.js";

export class HubTrustError extends AppError {
  readonly code = "hub_trust";
  override readonly shownToUser = true;
  override readonly name = "HubTrustError";
}

export interface HubTrustOptions {
  hubHttpUrl: string;
  /** -hub-ca-fingerprint; without it the first CA seen is trusted and remembered. */
  pinnedFingerprint?: string;
  signal?: AbortSignal;
}

/**
 * The CA this daemon trusts for everything it says to the hub: the one remembered in the cert
 * dir, or the one the hub presents now if it matches the pin (or, with no pin, on first use).
 */
export async function establishHubTrust(opts: HubTrustOptions, deps: { certDir: CertDir; logger: Logger }): Promise<string> {
  const pin = opts.pinnedFingerprint ? normalizeFingerprint(opts.pinnedFingerprint) : undefined;
  const remembered = await deps.certDir.loadCa();
  if (remembered) {
    const fp = certificateFingerprint(remembered);
    if (pin && fp !== pin) {
      throw new HubTrustError(
        `the hub CA remembered in ${deps.certDir.dir}/ca.crt has fingerprint ${fp}, but -hub-ca-fingerprint is ${pin}; if the hub's CA really changed, move ${deps.certDir.dir} away and start again`,
      );
    }
    return remembered;
  }
  // Fetched without verification on purpose: what we got is checked against the pin right below.
  const { caCertPem } = await requestJson<{ caCertPem: string }>({ baseUrl: opts.hubHttpUrl, unverified: true }, "GET", "/v1/ca", { signal: opts.signal });
  let fp: string;
  try {
    fp = certificateFingerprint(caCertPem);
  } catch {
    throw new HubTrustError(`${opts.hubHttpUrl}/v1/ca did not return a certificate`);
  }
  if (pin && fp !== pin) {
    throw new HubTrustError(`the hub at ${opts.hubHttpUrl} presents CA ${fp}, not the pinned ${pin}: refusing to talk to it (wrong hub, or someone in between)`);
  }
  if (!pin) {
    deps.logger.warn(
      { caFingerprint: fp },
      `TRUST ON FIRST USE: no -hub-ca-fingerprint given, so hub CA ${fp} is now trusted and remembered in ${deps.certDir.dir}. Compare it with the fingerprint the hub printed at its start; pin it with -hub-ca-fingerprint ${fp}`,
    );
  }
  await deps.certDir.saveCa(caCertPem);
  return caCertPem;
}
