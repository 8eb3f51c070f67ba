/**
 * The escrow listener of rental-hub against a real local chain (anvil, mined by hand): how many
 * funding logs per second it turns into rental starts, and how long after a funding becomes final
 * the node gets its start command, side by side with the wait for the confirmations themselves.
 *
 *   npm run bench:chain -- --fundings 200 --samples 20 --confirmations 12 --poll 200ms --store sqlite,postgres
 *
 * A real hub in this process (HTTPS, gRPC over mTLS, its store), one scripted node that answers
 * every start at once, and the renter's fundings sent as real transactions.
 */
import { parseArgs } from "node:util";
import { Contract, JsonRpcProvider, NonceManager, Wallet } from "ethers";
import { startAnvil } from "../internal/chain/anvil.js";
import { rentalEscrowAbi } from "../internal/chain/contracts/rental-escrow-artifact.js";
import { localChainOptions } from "../test/support/chain-options.js";
import { deployEscrow } from "../internal/chain/deploy-escrow.js";
import type { RentalView } from "../internal/hubapi/rentals.js";
import { requestJson } from "../internal/httpclient/json-client.js";
import { RentalInfo, RentalState } from "../internal/proto/gen/gpunode/v1/gpunode.js";
import { parseDuration } from "../internal/util/duration.js";
import { signIn } from "../test/support/renter.js";
import { enrollNode, nodeInfo, startScriptedNode, startTestHub } from "../test/support/test-hub.js";

const { values } = parseArgs({
  options: {
    fundings: { type: "string", default: "200" },
    samples: { type: "string", default: "20" },
    confirmations: { type: "string", default: "12" },
    poll: { type: "string", default: "200ms" },
    store: { type: "string", default: "sqlite,postgres" },
    "block-seconds": { type: "string", default: "12" },
  },
});
const FUNDINGS = Number(values.fundings);
const SAMPLES = Number(values.samples);
const CONFIRMATIONS = Number(values.confirmations);
const POLL_MS = parseDuration(values.poll);
const PRICE = 1_000_000_007n;

interface Result {
  store: string;
  logsPerSecond: number;
  lagMs: number[];
}

const results: Result[] = [];
for (const store of values.store.split(",")) results.push(await run(store.trim()));

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const confirmationWait = (CONFIRMATIONS - 1) * Number(values["block-seconds"]);
console.log(`\nconfirmations ${CONFIRMATIONS}, listener poll ${POLL_MS} ms, ${FUNDINGS} fundings in one block, ${SAMPLES} lag samples\n`);
console.log(`| what | ${results.map((r) => r.store).join(" | ")} |`);
console.log(`|---|${results.map(() => "---").join("|")}|`);
console.log(`| wait for ${CONFIRMATIONS} confirmations at ${values["block-seconds"]} s a block (the chain's part) | ${results.map(() => `${confirmationWait} s`).join(" | ")} |`);
console.log(`| funding final -> start command at the node, p50 / p99 (the hub's part) | ${results.map((r) => `${pct(r.lagMs, 50).toFixed(0)} / ${pct(r.lagMs, 99).toFixed(0)} ms`).join(" | ")} |`);
console.log(`| fundings of one block turned into starts | ${results.map((r) => `${r.logsPerSecond.toFixed(0)} logs/s`).join(" | ")} |`);
process.exit(0);

async function run(store: string): Promise<Result> {
  if (store === "postgres") process.env.HUB_TEST_STORE = "postgres";
  else delete process.env.HUB_TEST_STORE;
  const anvil = await startAnvil();
  const chain = new JsonRpcProvider(anvil.rpcUrl, undefined, { staticNetwork: true, pollingInterval: 20 });
  const deployed = await deployEscrow({ rpcUrl: anvil.rpcUrl, deployerKey: anvil.devKey(0), reclaimDelaySeconds: 3_600 });
  const escrow = new Contract(deployed.address, rentalEscrowAbi, chain);
  const t = await startTestHub({
    heartbeatIntervalMs: 60_000,
    chain: localChainOptions(anvil, deployed, { confirmations: CONFIRMATIONS, pollMs: POLL_MS, paymentWindowMs: 3_600_000, minPaidSeconds: 1 }),
  });
  const provider = Wallet.createRandom();
  const starts = new Map<string, number>();
  const waiters = new Map<string, () => void>();
  const creds = await enrollNode(t, { wallet: provider, info: nodeInfo({ pricePerSecWei: PRICE.toString() }) });
  const node = await startScriptedNode(
    t,
    creds,
    {
      startRental: async (cmd) => {
        starts.set(cmd.rentalId, performance.now());
        waiters.get(cmd.rentalId)?.();
        return { $case: "rental", value: RentalInfo.fromPartial({ rentalId: cmd.rentalId, state: RentalState.RENTAL_STATE_RUNNING, startedAt: new Date().toISOString() }) };
      },
    },
    [],
    nodeInfo({ pricePerSecWei: PRICE.toString() }),
  );
  const renterWallet = new Wallet(anvil.devKey(1), chain);
  const renter = new NonceManager(renterWallet);
  const token = await signIn(t.http, renterWallet);
  const rent = () => requestJson<RentalView>(t.http, "POST", "/v1/rentals", { bearer: token, body: { nodeId: creds.nodeId, gpuCount: 0, image: "busybox", command: ["true"], maxDurationSeconds: 60 } });
  const started = (id: string): Promise<number> => new Promise((resolve) => (starts.has(id) ? resolve(starts.get(id)!) : waiters.set(id, () => resolve(starts.get(id)!))));
  const fund = (r: RentalView) => renter.sendTransaction({ to: r.payment!.pay!.to, value: BigInt(r.payment!.pay!.value), data: r.payment!.pay!.data });
  const mine = (blocks: number) => chain.send("anvil_mine", [`0x${blocks.toString(16)}`]);
  await chain.send("evm_setAutomine", [false]);

  // Lag: one funding at a time; its last confirmation is mined in one call, and the clock starts when that returns.
  const lagMs: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const r = await rent();
    await fund(r);
    await mine(CONFIRMATIONS - 1);
    const pending = started(r.id);
    await mine(1);
    const finalAt = performance.now();
    lagMs.push((await pending) - finalAt);
  }

  // Throughput: many fundings in one block, all final at once.
  const many: RentalView[] = [];
  // Sequential: one address may hold only so many connections to the hub (-max-connections-per-ip).
  for (let i = 0; i < FUNDINGS; i++) many.push(await rent());
  for (const r of many) await fund(r);
  await mine(1);
  const receipts = await Promise.all(many.map((r) => chain.getLogs({ address: deployed.address, topics: [escrow.interface.getEvent("RentalOpened")!.topicHash, r.payment!.rentalKey] })));
  if (receipts.some((logs) => logs.length !== 1)) throw new Error("not every funding made it into the block (raise the gas limit or lower --fundings)");
  const allStarted = Promise.all(many.map((r) => started(r.id)));
  await mine(CONFIRMATIONS - 1);
  const finalAt = performance.now();
  const last = Math.max(...(await allStarted));
  const logsPerSecond = FUNDINGS / ((last - finalAt) / 1000);

  await node.stop();
  await t.close();
  chain.destroy();
  await anvil.stop();
  return { store, logsPerSecond, lagMs };
}
