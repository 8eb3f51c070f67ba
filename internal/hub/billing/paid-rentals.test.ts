// Paid rentals through a real hub (HTTPS, gRPC over mTLS, its store) and a real local chain
// (anvil, a block every 100 ms): a rental starts only once its funding is final and matches, its
// end is settled on chain to the wei, refused fundings are refunded, two logs of one transaction
// both count, and a funding that a reorganisation removes never starts anything.
import { fileURLToPath } from "node:url";
import { Contract, ContractFactory, hexlify, type InterfaceAbi, JsonRpcProvider, NonceManager, Transaction, randomBytes, Wallet, zeroPadValue } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAnvil, type RunningAnvil } from "../../chain/anvil.js";
import { compileContract } from "../../chain/contracts/compile.js";
import { rentalEscrowAbi } from "../../chain/contracts/rental-escrow-artifact.js";
import { localChainOptions } from "../../../test/support/chain-options.js";
import { until as pollUntil } from "../../../test/support/chain.js";
import { deployEscrow } from "../../chain/deploy-escrow.js";
import { rentalKeyOf } from "../../chain/escrow.js";
import { requestJson } from "../../httpclient/json-client.js";
import { RentalInfo, RentalState, type StartRental } from "../../proto/gen/gpunode/v1/gpunode.js";
import { signIn } from "../../../test/support/renter.js";
import { enrollNode, nodeInfo, rentalWhere, type ScriptedNode, startScriptedNode, startTestHub, type TestHub } from "../../../test/support/test-hub.js";
import type { RentalView } from "../../hubapi/rentals.js";

/** Polls what a user would look at (the chain has no push for "settled"): this file's deadline and pace. */
const until = <T>(check: () => Promise<T | undefined | false>, what: string) => pollUntil(check, what, 20_000, 50);

/** Wei per second: large and odd, so a wrong product shows in the last digits. */
const PRICE = 1_234_567_890_123n;
const CONFIRMATIONS = 12;
const MIN_PAID_SECONDS = 3;
const FUND_TWICE = fileURLToPath(new URL("../../../test/fixtures/chain/FundTwice.sol", import.meta.url));
const TEST_TOKEN = fileURLToPath(new URL("../../../test/fixtures/chain/TestToken.sol", import.meta.url));

describe("paid rentals on a real chain", () => {
  let anvil: RunningAnvil;
  let chain: JsonRpcProvider;
  let escrow: Contract;
  let t: TestHub;
  let node: ScriptedNode;
  let connectNode: () => Promise<ScriptedNode>;
  let nodeId: string;
  let token: string;
  const provider = Wallet.createRandom();
  let renter: NonceManager;

  beforeAll(async () => {
    anvil = await startAnvil({ blockTimeSeconds: 0.1 });
    chain = new JsonRpcProvider(anvil.rpcUrl, undefined, { staticNetwork: true, pollingInterval: 50 });
    // Counts its own nonces: anvil's pending count can lag a transaction that waits for the next block.
    renter = new NonceManager(new Wallet(anvil.devKey(1), chain));
    const deployed = await deployEscrow({ rpcUrl: anvil.rpcUrl, deployerKey: anvil.devKey(0), reclaimDelaySeconds: 3_600 });
    escrow = new Contract(deployed.address, rentalEscrowAbi, chain);
    t = await startTestHub({
      heartbeatIntervalMs: 60_000,
      chain: localChainOptions(anvil, deployed, { confirmations: CONFIRMATIONS, pollMs: 50, minPaidSeconds: MIN_PAID_SECONDS }),
    });
    const creds = await enrollNode(t, { wallet: provider, info: nodeInfo({ pricePerSecWei: PRICE.toString() }) });
    nodeId = creds.nodeId;
    connectNode = () => startScriptedNode(t, creds, { startRental: async (cmd: StartRental) => ({ $case: "rental", value: running(cmd.rentalId) }), stopRental: async (cmd) => ({ $case: "rental", value: stopped(cmd.rentalId) }) }, [], nodeInfo({ pricePerSecWei: PRICE.toString() }));
    node = await connectNode();
    token = await signIn(t.http, renter.signer as Wallet);
  });
  afterAll(async () => {
    await node?.stop();
    await t?.close();
    chain?.destroy();
    await anvil?.stop();
  });

  const rent = (body: Record<string, unknown> = {}) =>
    requestJson<RentalView>(t.http, "POST", "/v1/rentals", { bearer: token, body: { nodeId, gpuCount: 0, image: "busybox", command: ["sleep", "3600"], maxDurationSeconds: 600, ...body } });
  const view = (id: string) => requestJson<RentalView>(t.http, "GET", `/v1/rentals/${id}`, { bearer: token });
  const fund = async (args: { key: string; provider?: string; price?: bigint; amount: bigint }) => {
    const tx = await renter.sendTransaction({ to: await escrow.getAddress(), value: args.amount, data: escrow.interface.encodeFunctionData("open", [args.key, args.provider ?? provider.address, args.price ?? PRICE, args.amount]) });
    return (await tx.wait())!;
  };
  const balance = (who: string): Promise<bigint> => escrow.getFunction("balanceOf").staticCall(who) as Promise<bigint>;

  it("starts a rental once its funding is final, and pays the provider seconds x price when it stops, refunding the rest", async () => {
    const made = await rent();
    expect(made.status).toBe("awaiting_payment");
    const pay = made.payment!.pay!;
    expect(pay).toMatchObject({ to: await escrow.getAddress(), value: (PRICE * 600n).toString(), rpcUrl: anvil.rpcUrl });
    const providerBefore = await balance(provider.address);
    const renterBefore = await balance((await renter.getAddress()));

    // The renter sends exactly the call the hub gave.
    const funding = await (await renter.sendTransaction({ to: pay.to, value: BigInt(pay.value), data: pay.data })).wait();
    const startedAt = await rentalWhere(t, made.id, (r) => r.status === "running");
    // Not before the funding had its confirmations.
    expect(await chain.getBlockNumber()).toBeGreaterThanOrEqual(funding!.blockNumber + CONFIRMATIONS - 1);
    expect(startedAt.paidSeconds).toBe(600);
    await until(async () => (await escrow.getFunction("rentals").staticCall(rentalKeyOf(made.id)))[5] === true, "the operator marks it started on chain");

    const ended = await requestJson<RentalView>(t.http, "POST", `/v1/rentals/${made.id}/stop`, { bearer: token });
    expect(ended.status).toBe("stopped");
    const settled = await until(async () => ((await view(made.id)).payment?.status === "settled" ? view(made.id) : undefined), "the settlement is final");
    const used = PRICE * BigInt(ended.secondsUsed);
    expect(settled.payment).toMatchObject({ depositWei: (PRICE * 600n).toString(), usedWei: used.toString(), refundWei: (PRICE * 600n - used).toString(), secondsUsed: ended.secondsUsed });
    expect(settled.payment!.transactions.map((x) => x.kind)).toEqual(["opened", "started", "settled"]);
    expect(settled.payment!.transactions[0]!.txHash).toBe(funding!.hash.toLowerCase());
    // The chain agrees, to the wei.
    expect((await balance(provider.address)) - providerBefore).toBe(used);
    expect((await balance((await renter.getAddress()))) - renterBefore).toBe(PRICE * 600n - used);

    const providerToken = await signIn(t.http, provider);
    const earnings = await requestJson<{ withdrawableWei: string; nodes: Array<{ nodeId: string; settledWei: string }> }>(t.http, "GET", "/v1/earnings", { bearer: providerToken });
    expect(earnings.withdrawableWei).toBe((await balance(provider.address)).toString());
    expect(earnings.nodes).toContainEqual(expect.objectContaining({ nodeId, settledWei: expect.any(String) }));
  });

  it.each([
    { what: "a price other than the node's", terms: { price: PRICE + 1n }, reason: "price" },
    { what: "another provider", terms: { provider: Wallet.createRandom().address }, reason: "provider" },
    { what: "a deposit below the minimum", terms: { amount: PRICE * BigInt(MIN_PAID_SECONDS) - 1n }, reason: "minimum" },
  ])("refuses a funding with $what: the rental fails with the reason and the whole deposit is refunded", async ({ terms, reason }) => {
    const made = await rent();
    const before = await balance((await renter.getAddress()));
    const amount = terms.amount ?? PRICE * 600n;
    await fund({ key: made.payment!.rentalKey, amount, ...("price" in terms ? { price: terms.price } : {}), ...("provider" in terms ? { provider: terms.provider } : {}) });
    const failed = await rentalWhere(t, made.id, (r) => r.status === "failed");
    expect(failed.reason).toContain(reason);
    expect(failed.startedAt).toBeNull();
    const refused = await until(async () => ((await view(made.id)).payment?.refundWei !== null ? view(made.id) : undefined), "the refund is final");
    expect(refused.payment).toMatchObject({ status: "refused", usedWei: "0", refundWei: amount.toString(), refusal: expect.stringContaining(reason) });
    expect((await balance((await renter.getAddress()))) - before).toBe(amount);
  });

  it("acts on two escrow logs of one transaction, each once", async () => {
    const [a, b] = [await rent(), await rent()];
    const artifact = compileContract(FUND_TWICE, "FundTwice");
    const funder = (await new ContractFactory(artifact.abi as InterfaceAbi, artifact.bytecode, renter).deploy()) as Contract;
    await funder.waitForDeployment();
    const amount = PRICE * 600n;
    const tx = await funder.getFunction("fund")(await escrow.getAddress(), a.payment!.rentalKey, b.payment!.rentalKey, provider.address, PRICE, amount, { value: amount * 2n });
    const receipt = await tx.wait();
    expect(receipt.logs.length).toBe(2);
    await Promise.all([a, b].map((r) => rentalWhere(t, r.id, (x) => x.status === "running")));
    for (const r of [a, b]) expect((await view(r.id)).payment!.transactions[0]).toMatchObject({ kind: "opened", txHash: receipt.hash.toLowerCase() });
  });

  it("never starts a rental whose funding a reorganisation removed before it was final, and starts it on the funding that stays", async () => {
    const made = await rent();
    const snapshot = (await chain.send("evm_snapshot", [])) as string;
    const lost = await fund({ key: made.payment!.rentalKey, amount: PRICE * 600n });
    await chain.send("evm_revert", [snapshot]);
    renter.reset(); // its nonce went back with the chain
    // Well past where the lost funding would have been final: the hub read those blocks and found nothing.
    await until(async () => (t.hub.paid!.status().processedBlock ?? 0) > lost.blockNumber + 2, "the hub reads past the lost block");
    expect((await view(made.id)).status).toBe("awaiting_payment");
    expect(await chain.getTransactionReceipt(lost.hash)).toBeNull();

    await fund({ key: made.payment!.rentalKey, amount: PRICE * 600n });
    await rentalWhere(t, made.id, (r) => r.status === "running");
  });

  it("keeps what it acted on through a reorganisation deeper than its confirmations, and settles once the funding is back on chain", async () => {
    const made = await rent();
    const snapshot = (await chain.send("evm_snapshot", [])) as string;
    const sent = await renter.sendTransaction({ to: made.payment!.pay!.to, value: BigInt(made.payment!.pay!.value), data: made.payment!.pay!.data });
    const raw = Transaction.from(sent).serialized;
    await rentalWhere(t, made.id, (r) => r.status === "running");
    const reorgsBefore = t.hub.paid!.status().deepReorgs;

    await chain.send("evm_revert", [snapshot]);
    renter.reset();
    await until(async () => t.hub.paid!.status().deepReorgs > reorgsBefore, "the hub notices the deep reorganisation");
    // Acted on stays acted on: the rental runs on.
    expect((await view(made.id)).status).toBe("running");

    // The funding comes back, as a real chain's mempool re-includes it; it is not acted on a second time.
    await chain.broadcastTransaction(raw);
    await until(async () => (await chain.getTransactionReceipt(sent.hash)) !== null, "the funding is mined again");
    await requestJson(t.http, "POST", `/v1/rentals/${made.id}/stop`, { bearer: token });
    const settled = await until(async () => ((await view(made.id)).payment?.status === "settled" ? view(made.id) : undefined), "the settlement is final");
    expect(BigInt(settled.payment!.usedWei)).toBe(PRICE * BigInt(settled.secondsUsed));
    expect(settled.payment!.transactions.filter((x) => x.kind === "opened").length).toBeLessThanOrEqual(2);
  });

  it("holds a funded rental while its node is away and starts it when the node is back", async () => {
    const made = await rent();
    await node.stop();
    await fund({ key: made.payment!.rentalKey, amount: PRICE * 600n });
    const held = await rentalWhere(t, made.id, (r) => r.paidSeconds === 600);
    expect(held).toMatchObject({ status: "awaiting_payment", reason: expect.stringContaining("when its node is back") });
    node = await connectNode();
    await rentalWhere(t, made.id, (r) => r.status === "running");
  });

  it("ignores a funding of a rental id the hub never made (its renter reclaims it after the delay)", async () => {
    const stray = await fund({ key: zeroPadValue(hexlify(randomBytes(16)), 32), amount: PRICE * 600n });
    await until(async () => (t.hub.paid!.status().processedBlock ?? 0) >= stray.blockNumber, "the hub reads the stray funding's block");
    expect(t.hub.paid!.status().connected).toBe(true);
  });

  it("extends a rental when its deposit is topped up, and stops it when the deposit is used up", async () => {
    const made = await rent({ maxDurationSeconds: 0 });
    await fund({ key: made.payment!.rentalKey, amount: PRICE * BigInt(MIN_PAID_SECONDS) });
    const started = await rentalWhere(t, made.id, (r) => r.status === "running");
    expect(started.expiresAt!.getTime() - started.startedAt!.getTime()).toBe(MIN_PAID_SECONDS * 1000);
    const ended = await rentalWhere(t, made.id, (r) => r.status === "stopped");
    expect(ended.reason).toContain("deposit is used up");
    const settled = await until(async () => ((await view(made.id)).payment?.status === "settled" ? view(made.id) : undefined), "the settlement is final");
    // Paid the whole deposit, never more.
    expect(settled.payment).toMatchObject({ usedWei: (PRICE * BigInt(MIN_PAID_SECONDS)).toString(), refundWei: "0" });

    const longer = await rent({ maxDurationSeconds: 0 });
    await fund({ key: longer.payment!.rentalKey, amount: PRICE * BigInt(MIN_PAID_SECONDS) });
    const running2 = await rentalWhere(t, longer.id, (r) => r.status === "running");
    const topUp = await renter.sendTransaction({ to: await escrow.getAddress(), value: PRICE * 100n, data: escrow.interface.encodeFunctionData("topUp", [longer.payment!.rentalKey, PRICE * 100n]) });
    await topUp.wait();
    const extended = await rentalWhere(t, longer.id, (r) => r.paidSeconds === MIN_PAID_SECONDS + 100);
    expect(extended.status).toBe("running");
    expect(extended.expiresAt!.getTime() - running2.startedAt!.getTime()).toBe((MIN_PAID_SECONDS + 100) * 1000);
    await requestJson(t.http, "POST", `/v1/rentals/${longer.id}/stop`, { bearer: token });
  });
});

function running(rentalId: string): RentalInfo {
  return RentalInfo.fromPartial({ rentalId, state: RentalState.RENTAL_STATE_RUNNING, startedAt: new Date().toISOString() });
}

function stopped(rentalId: string): RentalInfo {
  return RentalInfo.fromPartial({ rentalId, state: RentalState.RENTAL_STATE_STOPPED, reason: "stopped by the hub" });
}


describe("paid rentals in an ERC-20 escrow", () => {
  it("tells the renter to approve the deposit, then starts and settles the rental in the token, to the unit", async () => {
    const anvil = await startAnvil({ blockTimeSeconds: 0.1 });
    const chain = new JsonRpcProvider(anvil.rpcUrl, undefined, { staticNetwork: true, pollingInterval: 50 });
    const renter = new NonceManager(new Wallet(anvil.devKey(1), chain));
    const operator = new NonceManager(new Wallet(anvil.devKey(0), chain));
    const tokenBuild = compileContract(TEST_TOKEN, "TestToken");
    const token = (await new ContractFactory(tokenBuild.abi as InterfaceAbi, tokenBuild.bytecode, operator).deploy()) as Contract;
    await token.waitForDeployment();
    await (await token.getFunction("mint")(await renter.getAddress(), PRICE * 10_000n)).wait();
    const deployed = await deployEscrow({ rpcUrl: anvil.rpcUrl, deployerKey: anvil.devKey(2), operator: await operator.getAddress(), token: await token.getAddress(), reclaimDelaySeconds: 3_600 });
    const t = await startTestHub({
      heartbeatIntervalMs: 60_000,
      chain: localChainOptions(anvil, deployed, { publicRpcUrl: "", pollMs: 50, minPaidSeconds: 1 }),
    });
    const provider = Wallet.createRandom();
    const creds = await enrollNode(t, { wallet: provider, info: nodeInfo({ pricePerSecWei: PRICE.toString() }) });
    const node = await startScriptedNode(t, creds, { startRental: async (cmd: StartRental) => ({ $case: "rental", value: running(cmd.rentalId) }), stopRental: async (cmd) => ({ $case: "rental", value: stopped(cmd.rentalId) }) }, [], nodeInfo({ pricePerSecWei: PRICE.toString() }));
    try {
      const token_ = await signIn(t.http, renter.signer as Wallet);
      await until(async () => t.hub.paid!.status().connected, "the hub reads the chain");
      const made = await until(async () => {
        const r = await requestJson<RentalView>(t.http, "POST", "/v1/rentals", { bearer: token_, body: { nodeId: creds.nodeId, gpuCount: 0, image: "busybox", command: ["sleep", "60"], maxDurationSeconds: 100 } });
        // The token is read once the chain answers: until then a view cannot say how to pay.
        return r.payment?.pay?.approve ? r : undefined;
      }, "the view asks for an approval");
      const pay = made.payment!.pay!;
      expect(pay).toMatchObject({ value: "0", approve: { to: await token.getAddress(), amount: (PRICE * 100n).toString() } });
      // Amounts are the token's: clients show them in its symbol and decimals.
      const chainView = await requestJson<{ currency: unknown }>(t.http, "GET", "/v1/chain");
      expect(chainView.currency).toEqual({ symbol: "TEST", decimals: 18, token: await token.getAddress() });
      await (await renter.sendTransaction({ to: pay.approve!.to, data: pay.approve!.data })).wait();
      await (await renter.sendTransaction({ to: pay.to, data: pay.data })).wait();
      await rentalWhere(t, made.id, (r) => r.status === "running");
      const ended = await requestJson<RentalView>(t.http, "POST", `/v1/rentals/${made.id}/stop`, { bearer: token_ });
      const settled = await until(async () => {
        const v = await requestJson<RentalView>(t.http, "GET", `/v1/rentals/${made.id}`, { bearer: token_ });
        return v.payment?.status === "settled" ? v : undefined;
      }, "the settlement is final");
      const used = PRICE * BigInt(ended.secondsUsed);
      expect(settled.payment).toMatchObject({ usedWei: used.toString(), refundWei: (PRICE * 100n - used).toString() });
      const escrow = new Contract(deployed.address, rentalEscrowAbi, chain);
      expect(await escrow.getFunction("balanceOf").staticCall(provider.address)).toBe(used);
      expect(await token.getFunction("balanceOf").staticCall(deployed.address)).toBe(PRICE * 100n);
    } finally {
      await node.stop();
      await t.close();
      chain.destroy();
      await anvil.stop();
    }
  });
});
