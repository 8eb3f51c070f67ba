// The daemon-to-gateway socket in one process: a real GatewayServer over a real SshGateway (listeners on
// loopback; no session is opened, so no container is needed) and the daemon's GatewayClient. The whole
// path with real processes, Docker and OpenSSH is test/e2e/ssh-survives-restart.test.ts.
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tcpReachable } from "../channel/tcp-probe.js";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ssh2 from "ssh2";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DockerodeEngine } from "../container/dockerode-engine.js";
import { createLogger } from "../log/logger.js";
import { SshGateway, sshStatePaths } from "../ssh/ssh-gateway.js";
import type { SshAccess } from "../ssh/ssh-access.js";
import { UnixSocketError } from "../util/unix-socket.js";
import { GatewayClient } from "./gateway-client.js";
import { GatewayServer } from "./gateway-server.js";
import { gatewaySocketPath, PROTOCOL_VERSION } from "./protocol.js";

const logger = createLogger({ name: "gateway-socket-test", level: "silent", pretty: false });
const ports = { first: 41_000 + Math.floor(Math.random() * 200) * 10, last: 0 };
ports.last = ports.first + 9;
const pub = ssh2.utils.generateKeyPairSync("ed25519", {}).public;
const access = (rentalId: string): SshAccess => ({ rentalId, containerId: `c-${rentalId}`, authorizedKeys: [pub], user: "renter" });

/** True when something accepts TCP connections on 127.0.0.1:port. */
const accepts = (port: number): Promise<boolean> => tcpReachable(`127.0.0.1:${port}`, 2_000);

/** One raw request line, one answer line: what a daemon of another version would see. */
function rawRequest(path: string, line: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let text = "";
    s.setEncoding("utf8");
    s.on("connect", () => s.write(`${line}\n`));
    s.on("data", (d: string) => {
      text += d;
      if (!text.includes("\n")) return;
      s.destroy();
      resolve(JSON.parse(text.split("\n")[0] ?? "") as Record<string, unknown>);
    });
    s.on("error", reject);
  });
}

describe("node-ssh-gateway's socket", () => {
  let dir: string;
  let stateDir: string;
  let socketPath: string;
  const running: { close(): Promise<void> | void }[] = [];

  const startGateway = async (): Promise<{ gateway: SshGateway; server: GatewayServer }> => {
    const gateway = new SshGateway({ ...sshStatePaths(stateDir), listenHost: "0.0.0.0", ports: { first: 1, last: 1 } }, { engine: new DockerodeEngine(), logger });
    const server = new GatewayServer({ socketPath }, { gateway, logger });
    await server.start();
    running.push({ close: () => server.close() }, { close: () => gateway.closeAll() });
    return { gateway, server };
  };
  const client = (onReachable?: (reachable: boolean) => void): GatewayClient => {
    const c = new GatewayClient({ socketPath, listenHost: "127.0.0.1", ports, hostKeyPath: sshStatePaths(stateDir).hostKeyPath }, { logger, ...(onReachable ? { onReachable } : {}) });
    running.push({ close: () => c.disconnect() });
    return c;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gw-sock-"));
  });
  afterEach(async () => {
    for (const r of running.splice(0).reverse()) await r.close();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("is the owner's only, and a second gateway on the same state dir is refused while the first runs", async () => {
    stateDir = join(dir, "owner");
    socketPath = gatewaySocketPath(stateDir);
    await startGateway();
    expect((await stat(socketPath)).mode & 0o777).toBe(0o600);
    const second = new GatewayServer({ socketPath }, { gateway: new SshGateway({ ...sshStatePaths(stateDir), listenHost: "127.0.0.1", ports }, { engine: new DockerodeEngine(), logger }), logger });
    const refused = await second.start().catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(UnixSocketError);
    expect((refused as Error).message).toMatch(/another node-ssh-gateway is running with this state dir/);
  });

  it("listens where the daemon says, and a restarted daemon finds its rental's listener on the same port; retain closes the others", async () => {
    stateDir = join(dir, "restart");
    socketPath = gatewaySocketPath(stateDir);
    const { gateway } = await startGateway();
    const first = client();
    expect(await first.start()).toBe(true);
    const { port: keepPort } = await first.open(access("keep"));
    const { port: gonePort } = await first.open(access("gone"));
    expect(keepPort).toBeGreaterThanOrEqual(ports.first);
    expect(keepPort).toBeLessThanOrEqual(ports.last);
    expect((await first.hostKeyPin()).fingerprint).toBe((await gateway.hostKeyPin()).fingerprint);
    first.disconnect(); // the daemon dies: nothing closes
    expect(await accepts(keepPort)).toBe(true);

    const second = client();
    expect(await second.start()).toBe(true);
    // Adoption: the labelled port, which the gateway still holds.
    expect(await second.open(access("keep"), keepPort)).toEqual({ port: keepPort });
    await second.reconcile();
    expect(await accepts(keepPort)).toBe(true);
    expect(await accepts(gonePort)).toBe(false);
  });

  it("adopts while the gateway is away (the labelled port), and opens it when the gateway comes", async () => {
    stateDir = join(dir, "away");
    socketPath = gatewaySocketPath(stateDir);
    let reached: () => void = () => {};
    const reachable = new Promise<void>((resolve) => (reached = resolve));
    const c = client((ok) => ok && reached());
    expect(await c.start()).toBe(false);
    const labelled = ports.first + 3;
    expect(await c.open(access("adopted"), labelled)).toEqual({ port: labelled });
    // The pin comes from the key file, which the gateway will use too.
    const pin = await c.hostKeyPin();
    await c.reconcile();
    expect(await accepts(labelled)).toBe(false);
    // A new rental cannot start without a gateway (it waits a few seconds for one first).
    await expect(c.open(access("new"))).rejects.toMatchObject({ code: "gateway_unavailable", message: expect.stringMatching(/node-ssh-gateway does not answer on .*ssh-gateway\.sock/) });

    const { gateway } = await startGateway();
    await reachable; // told once the adopted rental's access has been replayed
    expect(await accepts(labelled)).toBe(true);
    expect((await gateway.hostKeyPin()).fingerprint).toBe(pin.fingerprint);
  }, 20_000);

  it("tells a daemon of another protocol version to restart the gateway, and refuses anything before hello", async () => {
    stateDir = join(dir, "versions");
    socketPath = gatewaySocketPath(stateDir);
    await startGateway();
    const hello = await rawRequest(socketPath, JSON.stringify({ id: 1, op: "hello", protocol: PROTOCOL_VERSION + 1, listenHost: "127.0.0.1", ports }));
    expect(hello).toMatchObject({ id: 1, ok: false, code: "protocol" });
    expect(hello.message).toMatch(/restart node-ssh-gateway/);
    expect(await rawRequest(socketPath, JSON.stringify({ id: 2, op: "close", rentalId: "x" }))).toMatchObject({ id: 2, ok: false, message: "hello first" });
    expect(await rawRequest(socketPath, JSON.stringify({ id: 3, op: "launch" }))).toMatchObject({ id: 3, ok: false, code: "invalid_request" });
  });
});
