// Three rental-hub processes on one PostgreSQL behind a real haproxy, a real node daemon on the real
// Docker engine and a renter: the replica holding the node's stream is SIGKILLed, then all of them.
import { join } from "node:path";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerodeEngine } from "../../internal/container/dockerode-engine.js";
import { LABELS, workloadFilter } from "../../internal/container/labels.js";
import { type HttpTarget, requestJson } from "../../internal/httpclient/json-client.js";
import type { RentalView } from "../../internal/hubapi/rentals.js";
import { type Balancer, balancerPorts, startBalancer } from "../support/balancer.js";
import { removeNodeLeftovers } from "../support/node-leftovers.js";
import { until } from "../support/chain.js";
import { freshPostgresSchema } from "../support/postgres.js";
import type { Program } from "../support/program.js";
import { signIn } from "../support/renter.js";
import { getJson, type HubProcess, startDaemon, startHub, tempDir, writeKeyFile } from "../support/stack.js";

const IMAGE = "gpunode-test/busybox:latest";
/** The promise to providers: a node is back on another replica within 5 s of its replica's death. */
const BACK_WITHIN_MS = 5_000;

describe("hub replicas behind a load balancer", () => {
  const engine = new DockerodeEngine();
  let db: Awaited<ReturnType<typeof freshPostgresSchema>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let balancer: Balancer;
  let lb: HttpTarget;
  const hubs: HubProcess[] = [];
  let daemon: Program;
  let nodeId: string;
  let token: string;

  const hubArgs = (siweDomain: string) => ["--database-url", db.url, "--heartbeat-interval", "1s", "--siwe-domain", siweDomain];
  /** Replica i, started (again) on its own ports. */
  const startReplica = async (i: number, siweDomain: string): Promise<HubProcess> => {
    const before = hubs[i];
    const hub = await startHub(join(dir.path, "hub"), { ...(before ? { grpcPort: before.grpcPort, httpPort: before.httpPort } : {}), args: hubArgs(siweDomain) });
    hubs[i] = hub;
    return hub;
  };
  /** Which of these replicas the node's stream lands on (its lines from `after` on). */
  const holderOf = (of: HubProcess[], after: "now" | "ever"): Promise<HubProcess> =>
    Promise.any(
      of.map((h) => {
        const opened = (l: { msg: string; nodeId?: unknown }) => l.msg === "node connected" && l.nodeId === nodeId;
        return (after === "now" ? h.program.waitForNext(opened, "the node's stream", 30_000) : h.program.waitFor(opened, "the node's stream", 30_000)).then(() => h);
      }),
    );
  const rental = (id: string, via: HttpTarget = lb) => requestJson<RentalView>(via, "GET", `/v1/rentals/${id}`, { bearer: token });
  const containerRunning = async (rentalId: string): Promise<boolean> =>
    (await engine.list({ labels: workloadFilter(nodeId, "rental") })).some((c) => c.running && c.labels[LABELS.rentalId] === rentalId);
  const rent = async (via: HttpTarget): Promise<string> => {
    const created = await requestJson<RentalView>(via, "POST", "/v1/rentals", { bearer: token, body: { nodeId, gpuCount: 0, image: IMAGE, command: ["sleep", "1000"] } });
    await until(async () => (await rental(created.id)).status === "running", `rental ${created.id} running`, 20_000);
    return created.id;
  };

  beforeAll(async () => {
    db = await freshPostgresSchema("replicas_e2e");
    dir = await tempDir("hub-replicas");
    const ports = await balancerPorts();
    const siweDomain = `127.0.0.1:${ports.httpPort}`;
    // The first makes the CA in the shared data dir; the others find it there.
    for (let i = 0; i < 3; i++) await startReplica(i, siweDomain);
    balancer = await startBalancer(dir.path, ports, hubs);
    const { caCertPem } = await getJson<{ caCertPem: string }>(`${hubs[0]?.httpUrl}/v1/ca`);
    lb = { baseUrl: `https://127.0.0.1:${ports.httpPort}`, ca: caCertPem };
    const base = 46_000 + Math.floor(Math.random() * 50) * 20;
    daemon = startDaemon([
      "-hub", `127.0.0.1:${ports.grpcPort}`, "-hub-http", lb.baseUrl, "-hub-ca-fingerprint", hubs[0]?.caFingerprint ?? "", "-host", "127.0.0.1",
      "-private-key-file", await writeKeyFile(dir.path, Wallet.createRandom()), "-cert-dir", join(dir.path, "certs"), "-state-dir", join(dir.path, "state"),
      "-api-port", "0", "-api-listen-host", "127.0.0.1", "-enable-mining=false", "-ssh-ports", `${base}-${base + 19}`, "-ssh-listen-host", "127.0.0.1",
    ]);
    nodeId = (await daemon.waitFor((l) => l.created === true, "registration through the balancer")).nodeId as string;
    token = await signIn(lb, Wallet.createRandom());
  });

  afterAll(async () => {
    await daemon?.kill("SIGKILL");
    if (nodeId) await removeNodeLeftovers(engine, nodeId);
    await balancer?.stop();
    await Promise.all(hubs.map((h) => h.program.kill("SIGKILL")));
    await db?.drop();
    await dir?.remove();
  });

  it("serves a rental made on one replica while the node's stream is on another, through the death of that replica and of all of them", async () => {
    // Which replica holds the stream: the one that logged the node's stream opening.
    const holder = await holderOf(hubs, "ever");
    await daemon.waitFor((l) => l.seq === 2, "the node's second heartbeat");
    const other = hubs.find((h) => h !== holder);
    if (!other) throw new Error("no second replica");
    const first = await rent({ baseUrl: other.httpUrl, ca: lb.ca });
    expect(await containerRunning(first)).toBe(true);

    // SIGKILL the replica holding the node: its stream lands on another within 5 s.
    const survivors = hubs.filter((h) => h !== holder);
    const moved = holderOf(survivors, "now");
    const killedAt = Date.now();
    await holder.program.kill("SIGKILL");
    const newHolder = await moved;
    expect(Date.now() - killedAt).toBeLessThan(BACK_WITHIN_MS);
    expect(survivors).toContain(newHolder);

    // The rental ran on through it; the renter is still signed in; and it stops through the balancer.
    expect(await containerRunning(first)).toBe(true);
    expect((await rental(first)).status).toBe("running");
    const stopped = await requestJson<RentalView>(lb, "POST", `/v1/rentals/${first}/stop`, { bearer: token });
    expect(stopped.status).toBe("stopped");
    expect(await containerRunning(first)).toBe(false);

    // Back to three, a second rental, then every replica dies at once and comes back: nothing is lost.
    await startReplica(hubs.indexOf(holder), `127.0.0.1:${balancer.httpPort}`);
    const second = await rent(lb);
    await Promise.all(hubs.map((h) => h.program.kill("SIGKILL")));
    const restarted: HubProcess[] = [];
    for (let i = 0; i < hubs.length; i++) restarted.push(await startReplica(i, `127.0.0.1:${balancer.httpPort}`));
    await holderOf(restarted, "ever");
    const { rentals } = await requestJson<{ rentals: RentalView[] }>(lb, "GET", "/v1/rentals", { bearer: token });
    expect(Object.fromEntries(rentals.map((r) => [r.id, r.status]))).toEqual({ [first]: "stopped", [second]: "running" });
    expect(await containerRunning(second)).toBe(true);
    const end = await requestJson<RentalView>(lb, "POST", `/v1/rentals/${second}/stop`, { bearer: token });
    expect(end.status).toBe("stopped");
    expect(await containerRunning(second)).toBe(false);
  });
});
