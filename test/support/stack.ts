import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BaseWallet } from "ethers";
import { DAEMON_SCRIPT, GATEWAY_SCRIPT, HUB_SCRIPT, Program } from "./program.js";
import { signIn } from "./renter.js";

export interface HubProcess {
  program: Program;
  grpcPort: number;
  httpPort: number;
  httpUrl: string;
  caFingerprint: string;
}

export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A hub process on loopback; pass the ports of an earlier run to restart it in place. */
export async function startHub(dataDir: string, opts: { grpcPort?: number; httpPort?: number; args?: string[] } = {}): Promise<HubProcess> {
  const program = new Program("rental-hub", HUB_SCRIPT, [
    "--data-dir", dataDir,
    "--grpc-listen", `127.0.0.1:${opts.grpcPort ?? 0}`,
    "--http-listen", `127.0.0.1:${opts.httpPort ?? 0}`,
    "--public-host", "127.0.0.1,localhost",
    "--metrics-listen=", // off unless a test asks: parallel hubs would fight over 9465
    ...(opts.args ?? []),
  ]);
  const ready = await program.waitFor((l) => l.event === "ready", "ready line");
  return {
    program,
    grpcPort: ready.grpcPort as number,
    httpPort: ready.httpPort as number,
    httpUrl: ready.httpUrl as string,
    caFingerprint: ready.caFingerprint as string,
  };
}

export async function writeKeyFile(dir: string, wallet: BaseWallet, mode = 0o600): Promise<string> {
  const file = join(dir, `wallet-${wallet.address.slice(2, 10)}.key`);
  await writeFile(file, wallet.privateKey, { mode });
  await chmod(file, mode);
  return file;
}

export function daemonArgs(hub: HubProcess, keyFile: string, certDir: string, extra: string[] = []): string[] {
  return [
    "-hub", `127.0.0.1:${hub.grpcPort}`,
    "-hub-http", hub.httpUrl,
    "-hub-ca-fingerprint", hub.caFingerprint,
    "-host", "127.0.0.1",
    "-private-key-file", keyFile,
    "-cert-dir", certDir,
    "-state-dir", `${certDir}-state`,
    "-api-port", "0",
    "-api-listen-host", "127.0.0.1",
    ...extra,
  ];
}

export function startDaemon(args: string[], env: NodeJS.ProcessEnv = {}): Program {
  // An empty library path keeps a GPU machine's real NVML out of these tests: they are about the channel.
  // Metrics are off unless a test asks (parallel daemons would fight over 9464).
  // Debug: tests wait for every "heartbeat #n sent" line, which a daemon logs at info only once per connection.
  return new Program("node-daemon", DAEMON_SCRIPT, args, { NODE_DAEMON_NVML_LIBRARY: "/nonexistent/libnvidia-ml.so.1", NODE_DAEMON_METRICS_LISTEN: "", NODE_DAEMON_LOG_LEVEL: "debug", PATH: "/usr/bin:/bin", ...env });
}

/** node-ssh-gateway on the daemon's state dir, once it takes daemon connections. */
export async function startGateway(stateDir: string, env: NodeJS.ProcessEnv = {}): Promise<Program> {
  const gateway = new Program("node-ssh-gateway", GATEWAY_SCRIPT, ["-state-dir", stateDir], { NODE_SSH_GATEWAY_LOG_LEVEL: "debug", ...env });
  await gateway.waitFor((l) => typeof l.msg === "string" && l.msg.startsWith("node-ssh-gateway ready"), "the gateway's ready line");
  return gateway;
}

export async function getJson<T>(url: string, bearer?: string): Promise<T> {
  // The hub's CA is private; these read-only checks do not need to verify it.
  const { Agent, request } = await import("node:https");
  return new Promise((resolve, reject) => {
    request(url, { agent: new Agent({ rejectUnauthorized: false }), headers: bearer ? { authorization: `Bearer ${bearer}` } : {} }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => (res.statusCode === 200 ? resolve(JSON.parse(text) as T) : reject(new Error(`${url}: ${res.statusCode} ${text}`))));
    })
      .on("error", reject)
      .end();
  });
}

/** Signs a wallet in to a hub process, pinning the CA the hub serves (as a test may); returns the session token. */
export async function signInToHub(hub: HubProcess, wallet: BaseWallet): Promise<string> {
  const { caCertPem } = await getJson<{ caCertPem: string }>(`${hub.httpUrl}/v1/ca`);
  return signIn({ baseUrl: hub.httpUrl, ca: caCertPem }, wallet);
}
