// Paid rentals with every part a real process: the rental-hub process (SIGKILLed and restarted in
// place on its data dir and ports), a node-daemon process on the real Docker engine, a real local
// chain (anvil, a block every 0.5 s, its state kept in a file so that it can be stopped and come
// back) and renters who sign in with SIWE and pay from a wallet. Each test checks what a user
// would see: the rental's status and payment, the containers on the engine, and the escrow's
// balances and logs to the wei.
import { join } from "node:path";
import { JsonRpcProvider, Network, NonceManager, type TransactionReceipt, Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningAnvil, startAnvil } from "../../internal/chain/anvil.js";
import { deployEscrow } from "../../internal/chain/deploy-escrow.js";
import { DockerodeEngine } from "../../internal/container/dockerode-engine.js";
import { LABELS } from "../../internal/container/labels.js";
import { type HttpTarget, requestJson } from "../../internal/httpclient/json-client.js";
import type { RentalView } from "../../internal/hubapi/rentals.js";
import { EscrowReader, hubTarget, paidHubArgs, signInForChain, until, writeOperatorKeyFile } from "../support/chain.js";
import { removeNodeLeftovers } from "../support/node-leftovers.js";
import type { Program } from "../support/program.js";
import { daemonArgs, getJson, type HubProcess, startDaemon, startHub, tempDir, writeKeyFile } from "../support/stack.js";

/** Wei per second: large and odd, so a wrong product shows in the last digits. */
const PRICE = 1_234_567_890_123n;
const CHAIN_ID = 31337;
const CONFIRMATIONS = 5;
const BLOCK_SECONDS = 0.5;
/** Each rental asks for this long: its deposit is PRICE x DURATION. */
const DURATION = 600;
const DEPOSIT = PRICE * BigInt(DURATION);
const IMAGE = "gpunode-test/busybox:latest";
/** A job that runs until it is stopped, and stops at once on SIGTERM. */
const JOB = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"];
/** A rental on its way somewhere: anything else is where it ended up. */
const ON_THE_WAY = ["awaiting_payment", "starting", "node_offline"];

interface ChainView {
  payments: boolean;
  sync: { connected: boolean; headBlock: number | null; processedBlock: number | null; lagBlocks: number | null };
}

describe("paid rentals with the hub, a node and the chain as real processes", () => {
  const engine = new DockerodeEngine();
  const provider = Wallet.createRandom();
  const programs: Program[] = [];
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let anvil: RunningAnvil;
  let anvilPort: number;
  let statePath: string;
  let chain: JsonRpcProvider;
  let renter: NonceManager;
  let renterAddress: string;
  let escrow: EscrowReader;
  let fromBlock: number;
  let hubArgs: string[];
  let hub: HubProcess | undefined;
  let http: HttpTarget;
  let token: string;
  let daemon: Program;
  let nodeId: string;

  /** Starts the hub, or restarts it in place (same data dir, same ports), and signs the renter in to it. */
  const launchHub = async (): Promise<HubProcess> => {
    const started = await startHub(join(dir.path, "hub"), { grpcPort: hub?.grpcPort, httpPort: hub?.httpPort, args: hubArgs });
    programs.push(started.program);
    hub = started;
    http = await hubTarget(started);
    // Sessions live as long as the hub process: a restarted hub needs a new sign-in.
    token = await signInForChain(http, renter, CHAIN_ID);
    return started;
  };
  const hubNow = (): HubProcess => {
    if (!hub) throw new Error("no hub");
    return hub;
  };
  const killHub = async (): Promise<Program> => {
    const killed = hubNow().program;
    killed.proc.kill("SIGKILL");
    expect((await killed.exited).signal).toBe("SIGKILL");
    return killed;
  };
  const nodeOnline = (h: HubProcess) => h.program.waitFor((l) => l.msg === "node online" && l.nodeId === nodeId, "the node online", 30_000);

  const rent = () =>
    requestJson<RentalView>(http, "POST", "/v1/rentals", { bearer: token, body: { nodeId, gpuCount: 0, image: IMAGE, command: JOB, memoryBytes: 128 * 1024 ** 2, maxDurationSeconds: DURATION } });
  const view = (id: string) => requestJson<RentalView>(http, "GET", `/v1/rentals/${id}`, { bearer: token });
  const stop = (id: string) => requestJson<RentalView>(http, "POST", `/v1/rentals/${id}/stop`, { bearer: token });
  /** The renter sends exactly the transaction the hub asked for. */
  const pay = async (made: RentalView): Promise<TransactionReceipt> => {
    const call = made.payment?.pay;
    if (!call) throw new Error(`rental ${made.id} asks for no payment: ${JSON.stringify(made.payment)}`);
    const receipt = await (await renter.sendTransaction({ to: call.to, value: BigInt(call.value), data: call.data })).wait();
    if (!receipt) throw new Error("the funding was not mined");
    return receipt;
  };
  /** Where the rental ended up once it is no longer on its way (awaiting payment, starting, node away). */
  const outcome = (id: string, timeoutMs = 30_000) => until(async () => {
    const v = await view(id);
    return ON_THE_WAY.includes(v.status) ? undefined : v;
  }, `rental ${id} is no longer awaiting payment, starting or offline`, timeoutMs);
  const settled = (id: string) => until(async () => {
    const v = await view(id);
    return v.payment?.status === "settled" ? v : undefined;
  }, `rental ${id}'s settlement is final`, 30_000);
  const containersOf = (id: string) => engine.list({ labels: { [LABELS.rentalId]: id } });
  const balances = async () => ({ provider: await escrow.balanceOf(provider.address), renter: await escrow.balanceOf(renterAddress) });

  /** The settlement as the renter sees it, and as the chain has it: seconds x price to the provider, the rest back, once. */
  const expectSettledToTheWei = async (made: RentalView, ended: RentalView, before: { provider: bigint; renter: bigint }): Promise<void> => {
    const used = PRICE * BigInt(ended.secondsUsed);
    const shown = await settled(made.id);
    expect(shown.payment).toMatchObject({ depositWei: DEPOSIT.toString(), usedWei: used.toString(), refundWei: (DEPOSIT - used).toString(), secondsUsed: ended.secondsUsed });
    // Each once, in the chain's order: the renter's funding, the operator's start and its settlement.
    expect(shown.payment!.transactions.map((t) => t.kind)).toEqual(["opened", "started", "settled"]);
    const logs = await escrow.settledLogs(made.payment!.rentalKey, fromBlock);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ secondsUsed: BigInt(ended.secondsUsed), providerWei: used, refundWei: DEPOSIT - used });
    expect(shown.payment!.transactions.find((t) => t.kind === "settled")?.txHash).toBe(logs[0]!.txHash.toLowerCase());
    const after = await balances();
    expect(after.provider - before.provider).toBe(used);
    expect(after.renter - before.renter).toBe(DEPOSIT - used);
    expect((await escrow.rental(made.payment!.rentalKey)).closed).toBe(true);
    // A stop removes the rental's container before the node answers: nothing of it is left on the engine.
    expect(await containersOf(made.id)).toEqual([]);
  };

  beforeAll(async () => {
    dir = await tempDir("paid-rentals");
    statePath = join(dir.path, "anvil-state.json");
    anvil = await startAnvil({ blockTimeSeconds: BLOCK_SECONDS, statePath });
    anvilPort = anvil.port;
    chain = new JsonRpcProvider(anvil.rpcUrl, Network.from(CHAIN_ID), { staticNetwork: true, pollingInterval: 100 });
    // Counts its own nonces: anvil's pending count can lag a transaction that waits for the next block.
    renter = new NonceManager(new Wallet(anvil.devKey(1), chain));
    renterAddress = await renter.getAddress();
    const deployed = await deployEscrow({ rpcUrl: anvil.rpcUrl, deployerKey: anvil.devKey(0), reclaimDelaySeconds: 3_600 });
    escrow = new EscrowReader(deployed.address, chain);
    fromBlock = deployed.blockNumber;
    const operatorKeyFile = await writeOperatorKeyFile(dir.path, anvil.devKey(0));
    hubArgs = [
      "--heartbeat-interval", "1s",
      ...paidHubArgs({ chainId: CHAIN_ID, rpcUrl: anvil.rpcUrl, escrowAddress: deployed.address, fromBlock, confirmations: CONFIRMATIONS, operatorKeyFile, pollMs: 200 }),
    ];
    const first = await launchHub();
    const sshBase = 47_000 + Math.floor(Math.random() * 100) * 20;
    daemon = startDaemon(
      daemonArgs(first, await writeKeyFile(dir.path, provider), join(dir.path, "certs"), [
        // The hub's sign-ins name its chain: the daemon's must too.
        "-chain-id", String(CHAIN_ID),
        "-price-per-sec", PRICE.toString(),
        "-enable-mining=false",
        "-ssh-ports", `${sshBase}-${sshBase + 19}`,
        "-ssh-listen-host", "127.0.0.1",
      ]),
    );
    programs.push(daemon);
    nodeId = (await daemon.waitFor((l) => l.created === true, "registration")).nodeId as string;
    await nodeOnline(first);
  });

  afterAll(async () => {
    await daemon?.kill("SIGKILL");
    await removeNodeLeftovers(engine, nodeId);
    await Promise.all(programs.map((p) => p.kill("SIGKILL")));
    chain?.destroy();
    await anvil?.stop();
    await dir?.remove();
  });

  it("starts a rental exactly once when the hub is SIGKILLed after its funding is mined and before it is final", async () => {
    const made = await rent();
    expect(made).toMatchObject({ status: "awaiting_payment", payment: { status: "awaiting", pay: { to: escrow.address, value: DEPOSIT.toString() } } });
    const before = await balances();
    const funding = await pay(made);
    const killed = await killHub();
    // It died before the funding had its confirmations: it never acted on it.
    expect(killed.lines.some((l) => l.rentalId === made.id && l.msg === "rental funded; starting it")).toBe(false);

    // The funding is final while no hub watches.
    await until(async () => (await chain.getBlockNumber()) > funding.blockNumber + CONFIRMATIONS, `the chain is more than ${CONFIRMATIONS} blocks past the funding`);
    const restarted = await launchHub();

    const started = await outcome(made.id);
    expect(started.status, `rental ${made.id}: ${started.reason}`).toBe("running");
    const containers = await containersOf(made.id);
    expect(containers.map((c) => c.status)).toEqual(["running"]);
    const opened = started.payment!.transactions.filter((t) => t.kind === "opened");
    expect(opened).toEqual([expect.objectContaining({ txHash: funding.hash.toLowerCase() })]);
    expect(started.payment).toMatchObject({ status: "funded", depositWei: DEPOSIT.toString() });
    expect(restarted.program.lines.filter((l) => l.rentalId === made.id && l.msg === "rental funded; starting it")).toHaveLength(1);
    await until(async () => (await escrow.rental(made.payment!.rentalKey)).started, "the operator marks it started on chain");

    // And it ends like any other: settled once, to the wei.
    const ended = await stop(made.id);
    expect(ended.status).toBe("stopped");
    await expectSettledToTheWei(made, ended, before);
  });

  it("settles a stopped rental exactly once when the hub is SIGKILLed right after the stop", async () => {
    await nodeOnline(hubNow());
    const made = await rent();
    const before = await balances();
    await pay(made);
    const running = await outcome(made.id);
    expect(running.status, `rental ${made.id}: ${running.reason}`).toBe("running");

    const ended = await stop(made.id);
    expect(ended.status).toBe("stopped");
    expect(ended.secondsUsed).toBeGreaterThanOrEqual(1);
    await killHub();
    await launchHub();

    await expectSettledToTheWei(made, ended, before);
    expect((await view(made.id)).status).toBe("stopped");
  });

  it("settles exactly once, with the transaction it signed, when the hub is SIGKILLed right after sending the settlement", async () => {
    await nodeOnline(hubNow());
    const made = await rent();
    const before = await balances();
    await pay(made);
    expect((await outcome(made.id)).status).toBe("running");
    await until(async () => (await escrow.rental(made.payment!.rentalKey)).started, "the operator marks it started on chain");

    const sent = hubNow().program.waitForNext((l) => l.msg === "operator transaction sent" && l.rentalId === made.id && l.action === "settle", "the settlement sent", 30_000);
    const ended = await stop(made.id);
    const settlement = await sent;
    await killHub();
    const restarted = await launchHub();

    await expectSettledToTheWei(made, ended, before);
    // The one it signed before it died: the restarted hub signed no second settlement.
    const [log] = await escrow.settledLogs(made.payment!.rentalKey, fromBlock);
    expect(log?.txHash.toLowerCase()).toBe(String(settlement.txHash).toLowerCase());
    expect(restarted.program.lines.filter((l) => l.msg === "operator transaction sent" && l.rentalId === made.id)).toHaveLength(0);
  });

  it("keeps serving while the chain RPC is down, says so in /v1/chain, and takes paid rentals end to end once it is back", async () => {
    const h = hubNow();
    await nodeOnline(h);
    await anvil.stop();
    const down = await until(async () => {
      const c = await getJson<ChainView>(`${h.httpUrl}/v1/chain`);
      return c.sync.connected ? undefined : c;
    }, "/v1/chain says the chain is not connected");
    expect(down.payments).toBe(true);
    // The hub is up and answers: its process, its health check, a renter's reads.
    expect(h.program.proc.exitCode).toBeNull();
    expect(h.program.proc.signalCode).toBeNull();
    expect(await getJson<{ ok: boolean }>(`${h.httpUrl}/healthz`)).toMatchObject({ ok: true });
    expect((await requestJson<{ rentals: RentalView[] }>(http, "GET", "/v1/rentals", { bearer: token })).rentals.length).toBeGreaterThanOrEqual(2);

    // The same chain comes back on the same port.
    anvil = await startAnvil({ port: anvilPort, statePath, blockTimeSeconds: BLOCK_SECONDS });
    await until(async () => {
      const c = await getJson<ChainView>(`${h.httpUrl}/v1/chain`);
      return c.sync.connected && (c.sync.processedBlock ?? 0) > (down.sync.processedBlock ?? 0);
    }, "/v1/chain says the chain is connected and read further", 60_000);

    const made = await rent();
    const before = await balances();
    const funding = await pay(made);
    const running = await outcome(made.id);
    expect(running.status, `rental ${made.id}: ${running.reason}`).toBe("running");
    expect(running.payment!.transactions.filter((t) => t.kind === "opened")).toEqual([expect.objectContaining({ txHash: funding.hash.toLowerCase() })]);
    expect((await containersOf(made.id)).map((c) => c.status)).toEqual(["running"]);
    const ended = await stop(made.id);
    expect(ended.status).toBe("stopped");
    await expectSettledToTheWei(made, ended, before);
    expect(h.program.proc.exitCode).toBeNull();
  });
});
