import { type BaseWallet, Wallet } from "ethers";
import { pino } from "pino";
import type { NodeCredentials } from "../../internal/certs/cert-dir.js";
import { enroll } from "../../internal/enroll/enroll.js";
import type { HttpTarget } from "../../internal/httpclient/json-client.js";
import { defaultHubOptions, type HubOptions } from "../../internal/hub/options.js";
import { RentalHub } from "../../internal/hub/rental-hub.js";
import type { NodeInfo } from "../../internal/proto/gen/gpunode/v1/gpunode.js";
import { schemaForDataDir } from "./postgres.js";
import { tempDir } from "./stack.js";

export const quietLogger = pino({ level: "silent" });

export interface TestHub {
  hub: RentalHub;
  http: HttpTarget;
  grpcTarget: string;
  dataDir: string;
  close(): Promise<void>;
}

/** The test project "hub-on-postgres" runs the hub's tests again with this set. */
const ON_POSTGRES = process.env.HUB_TEST_STORE === "postgres";

/** A real hub in this process: real HTTPS, real gRPC over mTLS, a fresh SQLite file (or PostgreSQL schema). */
export async function startTestHub(overrides: Partial<HubOptions> = {}): Promise<TestHub> {
  const dir = await tempDir("hub");
  const dataDir = overrides.dataDir ?? dir.path;
  const pgSchema = ON_POSTGRES ? await schemaForDataDir(dataDir) : undefined;
  const hub = await RentalHub.start(
    {
      ...defaultHubOptions,
      dataDir: dir.path,
      databaseUrl: pgSchema?.url,
      grpcListen: { host: "127.0.0.1", port: 0 },
      httpListen: { host: "127.0.0.1", port: 0 },
      publicHosts: ["127.0.0.1", "localhost"],
      // Off unless a test asks: parallel hubs would fight over 9465.
      metricsListen: undefined,
      // Tests sign in far more often than people; the limiter has its own test.
      signInLimits: { perIp: { perMinute: 6_000, burst: 1_000 }, perAddress: { perMinute: 6_000, burst: 1_000 } },
      ...overrides,
    },
    { logger: quietLogger },
  );
  return {
    hub,
    http: { baseUrl: hub.info.httpUrl, ca: hub.caCertPem },
    grpcTarget: `127.0.0.1:${hub.info.grpcPort}`,
    dataDir: dir.path,
    close: async () => {
      await hub.close();
      await pgSchema?.drop();
      await dir.remove();
    },
  };
}

export function nodeInfo(overrides: Partial<NodeInfo> = {}): NodeInfo {
  return { host: "127.0.0.1", apiPort: 8444, pricePerSecWei: "1000000000", versions: undefined, gpus: [], notices: [], draining: false, ...overrides };
}

/** Signs a wallet in and registers a machine, as the daemon does. */
export function enrollNode(t: TestHub, opts: { wallet?: BaseWallet; machineId?: string; previousNodeId?: string; info?: NodeInfo } = {}): Promise<NodeCredentials> {
  const url = new URL(t.http.baseUrl);
  return enroll(
    { hub: t.http, siweDomain: url.host, chainId: 1, machineId: opts.machineId ?? "a".repeat(64), previousNodeId: opts.previousNodeId },
    opts.info ?? nodeInfo(),
    { wallet: opts.wallet ?? Wallet.createRandom(), logger: quietLogger },
  );
}

/** Resolves once the hub counts the node online (at once if it already does). */
export function nodeOnline(t: TestHub, nodeId: string): Promise<void> {
  if (t.hub.presence.status(nodeId) === "online") return Promise.resolve();
  return new Promise((resolve) => {
    const on = (id: string, status: string): void => {
      if (id !== nodeId || status !== "online") return;
      t.hub.presence.off("change", on);
      resolve();
    };
    t.hub.presence.on("change", on);
  });
}
