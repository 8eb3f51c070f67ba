import { once } from "node:events";
import { type BaseWallet, Wallet } from "ethers";
import { type Logger, pino } from "pino";
import type { NodeCredentials } from "../../internal/certs/cert-dir.js";
import { CommandDispatcher, type CommandHandlers } from "../../internal/channel/command-dispatcher.js";
import { defaultHubLinkOptions, HubLink } from "../../internal/channel/hub-link.js";
import { enroll } from "../../internal/enroll/enroll.js";
import { walletSigner } from "../../internal/auth/siwe-signer.js";
import type { HttpTarget } from "../../internal/httpclient/json-client.js";
import { defaultHubOptions, type HubOptions } from "../../internal/hub/options.js";
import { RentalHub } from "../../internal/hub/rental-hub.js";
import type { HubRental } from "../../internal/hub/store/rental-store.js";
import { Heartbeat, type NodeInfo, type RentalInfo } from "../../internal/proto/gen/gpunode/v1/gpunode.js";
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
export async function startTestHub(overrides: Partial<HubOptions> = {}, logger: Logger = quietLogger): Promise<TestHub> {
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
    { logger },
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
    { signer: walletSigner(opts.wallet ?? Wallet.createRandom()), logger: quietLogger },
  );
}

/** Resolves once the hub counts the node online (at once if it already does). */
export function nodeOnline(t: TestHub, nodeId: string): Promise<void> {
  return nodePresence(t, nodeId, "online");
}

/** Resolves once the hub (or replica) counts the node as `status` (at once if it already does). */
export function nodePresence(t: TestHub, nodeId: string, status: "online" | "offline"): Promise<void> {
  if (t.hub.presence.status(nodeId) === status) return Promise.resolve();
  return new Promise((resolve) => {
    const on = (id: string, now: string): void => {
      if (id !== nodeId || now !== status) return;
      t.hub.presence.off("change", on);
      resolve();
    };
    t.hub.presence.on("change", on);
  });
}

/** A node whose commands and reports the test scripts, over the daemon's own channel code (HubLink, CommandDispatcher). */
export interface ScriptedNode {
  link: HubLink;
  /** What its heartbeats list: set it, then beat(). */
  rentals: RentalInfo[];
  /** Anything else its heartbeats carry (GPUs, miners). */
  more: Partial<Heartbeat>;
  /** Sends a heartbeat now, built from `rentals`. */
  beat(): Promise<void>;
  /** Ends its stream, as a node that crashes or loses the network. */
  stop(): Promise<void>;
}

/** Connects a scripted node and resolves once the hub has welcomed it (its first heartbeat is on its way). */
export async function startScriptedNode(t: TestHub, creds: NodeCredentials, handlers: CommandHandlers, rentals: RentalInfo[] = [], info: NodeInfo = nodeInfo()): Promise<ScriptedNode> {
  const dispatcher = new CommandDispatcher({ rememberIds: 100 }, { logger: quietLogger, metrics: null, handlers });
  const node: Omit<ScriptedNode, "link" | "stop"> = {
    rentals,
    more: {},
    beat: async () => {
      if (!(await link.heartbeatNow())) throw new Error("the scripted node is not connected");
    },
  };
  const link = new HubLink(
    { ...defaultHubLinkOptions, target: t.grpcTarget },
    {
      logger: quietLogger,
      metrics: null,
      credentials: () => creds,
      unusable: () => undefined,
      hello: async () => ({ nodeId: creds.nodeId, info }),
      heartbeat: async (seq) => Heartbeat.fromPartial({ ...node.more, seq, nodeId: creds.nodeId, uptimeSeconds: 1, sentAtUnixMs: Date.now(), rentals: node.rentals }),
      dispatcher,
      onRefused: async (reason) => {
        throw new Error(`the hub refused the scripted node: ${reason}`);
      },
    },
  );
  const abort = new AbortController();
  const connected = once(link, "connected");
  const running = link.run(abort.signal);
  await connected;
  return Object.assign(node, {
    link,
    stop: async () => {
      abort.abort();
      await running;
    },
  });
}

/** Resolves when the hub's record of the rental matches (at once if it already does). */
export function rentalWhere(t: TestHub, id: string, match: (r: HubRental) => boolean): Promise<HubRental> {
  return new Promise((resolve) => {
    const check = (r: HubRental): void => {
      if (r.id !== id || !match(r)) return;
      t.hub.rentals.off("changed", check);
      resolve(r);
    };
    t.hub.rentals.on("changed", check);
    void t.hub.store.rentals.get(id).then((r) => r && check(r));
  });
}
