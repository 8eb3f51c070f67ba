import { CertDir } from "../certs/cert-dir.js";
import { certificateFingerprint, normalizeFingerprint } from "../certs/fingerprint.js";
import { type DaemonOptions, hubHttpBaseUrl } from "../daemon/options.js";
import { userMessage } from "../errors/app-error.js";
import { type HttpTarget, requestJson } from "../httpclient/json-client.js";
import { readReleasePublicKey } from "../release/keys.js";
import { Updater } from "./updater.js";

export interface UpdateCommandSettings {
  daemon: Pick<DaemonOptions, "hub" | "hubHttp" | "hubCaFingerprint" | "insecureHttp" | "certDir" | "installRoot">;
  update: { releasePublicKeyFile?: string; restartCommand: string; confirmTimeoutMs: number };
}

export interface Stdio {
  out(text: string): void;
  err(text: string): void;
}

/**
 * `node-daemon update [--check] [--release V]`: says whether the hub recommends a newer version,
 * or installs it. Exit 0: done or nothing to do; 1: refused or rolled back (nothing changed, or
 * the previous version put back; the message says which); 2: used wrongly.
 */
export async function updateCommand(s: UpdateCommandSettings, o: { check?: boolean; version?: string }, io: Stdio): Promise<number> {
  const say = (line: string): void => io.out(`node-daemon update: ${line}\n`);
  const keyFile = s.update.releasePublicKeyFile;
  if (!keyFile) {
    io.err("node-daemon update: needs -release-public-key-file PATH (release.pub from the hub's operator): a release is installed only when that key signed it\n");
    return 2;
  }
  try {
    const publicKey = await readReleasePublicKey(keyFile);
    const hub = await hubTarget(s.daemon, say);
    const updater = new Updater({ hub, installRoot: s.daemon.installRoot, publicKey, restartCommand: s.update.restartCommand, confirmTimeoutMs: s.update.confirmTimeoutMs }, { say });
    if (o.check) {
      const c = await updater.check();
      if (c.available) say(`installed ${c.installed}; the hub recommends ${c.available}: node-daemon update installs it`);
      else say(`installed ${c.installed}; ${c.recommended ? `the hub recommends ${c.recommended}` : "the hub recommends no version"}: nothing to do`);
      return 0;
    }
    const r = await updater.update(o.version);
    if (r.kind === "up-to-date") say(`installed ${r.installed}; ${r.recommended ? `the hub recommends ${r.recommended}` : "the hub recommends no version"}: nothing to do`);
    else say(`updated ${r.from} -> ${r.to}`);
    return 0;
  } catch (err) {
    const message = userMessage(err);
    if (message === undefined) throw err;
    io.err(`node-daemon update: ${message}\n`);
    return 1;
  }
}

/**
 * The hub's REST API, trusted as the daemon trusts it where that can be done here: the pinned CA
 * (-hub-ca-fingerprint), else the CA the daemon remembered. Without either the certificate goes
 * unchecked, which only exposes what is public anyway: the release's signature is what is trusted.
 */
async function hubTarget(d: UpdateCommandSettings["daemon"], say: (line: string) => void): Promise<HttpTarget> {
  const baseUrl = new URL(hubHttpBaseUrl(d)).origin;
  if (baseUrl.startsWith("http:")) return { baseUrl };
  if (d.hubCaFingerprint) {
    const pin = normalizeFingerprint(d.hubCaFingerprint);
    const { caCertPem } = await requestJson<{ caCertPem: string }>({ baseUrl, unverified: true }, "GET", "/v1/ca");
    const fp = certificateFingerprint(caCertPem);
    if (fp !== pin) throw new Error(`the hub at ${baseUrl} presents CA ${fp}, not the pinned ${pin}`);
    return { baseUrl, ca: caCertPem };
  }
  const remembered = await new CertDir(d.certDir).loadCa().catch(() => undefined);
  if (remembered) return { baseUrl, ca: remembered };
  say(`no pinned or remembered hub CA (-hub-ca-fingerprint, -cert-dir): the hub's certificate is not checked; the release signature is`);
  return { baseUrl, unverified: true };
}
