// Paid rentals in the dashboard, in Debian's Chromium: a hub in this process reading a real local
// chain (anvil, a block every 200 ms, the committed RentalEscrow), a scripted node with a price, and
// browser wallets backed by anvil's funded accounts. The renter rents from the form and pays with
// the page's Pay button; the provider sees its settled earnings and withdraws them. Every number the
// test expects on the page is read from the chain, not from the hub.
import { mkdir } from "node:fs/promises";
import { Contract, formatEther, JsonRpcProvider, Wallet } from "ethers";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startAnvil, type RunningAnvil } from "../../internal/chain/anvil.js";
import { rentalEscrowAbi } from "../../internal/chain/contracts/rental-escrow-artifact.js";
import { localChainOptions } from "../support/chain-options.js";
import { deployEscrow } from "../../internal/chain/deploy-escrow.js";
import { rentalKeyOf } from "../../internal/chain/escrow.js";
import { enroll } from "../../internal/enroll/enroll.js";
import { walletSigner } from "../../internal/auth/siwe-signer.js";
import { GpuActivity, GpuStatus, RentalInfo, RentalState } from "../../internal/proto/gen/gpunode/v1/gpunode.js";
import { chromiumMissing, injectTestWallet, launchChromium, type TestBrowser, type TestWallet } from "../support/browser.js";
import { ChainSender } from "../support/chain-sender.js";
import { nodeInfo, quietLogger, type ScriptedNode, startScriptedNode, startTestHub, type TestHub } from "../support/test-hub.js";

/** Wei per second: about 0.0012 ether, odd, so that a wrong product shows in the last digits. */
const PRICE = 1_234_567_890_123_457n;
const CONFIRMATIONS = 3;
const MINUTES = 10;
const DEPOSIT = PRICE * BigInt(MINUTES * 60);
const SCREENSHOT = "test-artifacts/dashboard-paid.png"; // settled
const SCREENSHOT_WAITING = "test-artifacts/dashboard-paid-waiting.png"; // paid, waiting for confirmations
const SCREENSHOT_UNREACHABLE = "test-artifacts/dashboard-paid-unreachable.png";
const GPU = { index: 0, uuid: "GPU-paid-0", name: "NVIDIA H100 80GB HBM3", memoryTotalBytes: 80 * 1024 ** 3 };

/** Wei as the page writes ether: at most 6 decimals, cut (not rounded), no trailing zeros. */
function eth(wei: bigint): string {
  const [whole, frac = ""] = formatEther(wei).split(".");
  const cut = frac.slice(0, 6).replace(/0+$/, "");
  return `${whole}${cut ? `.${cut}` : ""} ETH`;
}
/** A hash or address as the page shortens it. */
const shortHash = (h: string) => `${h.slice(0, 10)}…${h.slice(-6)}`;
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("paid rentals in the dashboard, on a real chain", () => {
  let anvil: RunningAnvil;
  let chain: JsonRpcProvider;
  let escrow: Contract;
  let t: TestHub;
  let node: ScriptedNode;
  let nodeId: string;
  let browser: TestBrowser;
  let renterSender: ChainSender;
  let providerSender: ChainSender;
  let renterPage: Page;
  let renterWallet: TestWallet;
  const pageErrors: string[] = [];

  const rentalRow = (page: Page, id: string) => page.locator(`#rentals tr[data-rental-id="${id}"]`);
  const balanceOf = (who: string) => escrow.getFunction("balanceOf").staticCall(who) as Promise<bigint>;

  // Without Debian's Chromium every test fails, saying what to install: a browser test must never pass by skipping.
  const missing = chromiumMissing();
  beforeEach(() => {
    if (missing) throw new Error(missing);
  });

  beforeAll(async () => {
    if (missing) return;
    anvil = await startAnvil({ blockTimeSeconds: 0.2 });
    chain = new JsonRpcProvider(anvil.rpcUrl, undefined, { staticNetwork: true, pollingInterval: 50 });
    const deployed = await deployEscrow({ rpcUrl: anvil.rpcUrl, deployerKey: anvil.devKey(0), reclaimDelaySeconds: 3_600 });
    escrow = new Contract(deployed.address, rentalEscrowAbi, chain);
    renterSender = new ChainSender(anvil.devKey(1), chain);
    providerSender = new ChainSender(anvil.devKey(2), chain);
    t = await startTestHub({
      // Renters sign in on the escrow's chain, as the hub's -chain-id says.
      chainId: anvil.chainId,
      // The scripted node reports only its first heartbeat (its rental list is not kept).
      heartbeatIntervalMs: 60_000,
      chain: localChainOptions(anvil, deployed, { confirmations: CONFIRMATIONS }),
    });

    // A node with one GPU and a price, whose wallet is a funded account (it pays for its withdrawal).
    const info = nodeInfo({ pricePerSecWei: PRICE.toString(), gpus: [{ ...GPU, pciBusId: "00000000:01:00.0" }] });
    const creds = await enroll({ hub: t.http, chainId: anvil.chainId, machineId: "c".repeat(64) }, info, { signer: walletSigner(new Wallet(anvil.devKey(2))), logger: quietLogger });
    nodeId = creds.nodeId;
    const report = (rentalId: string, state: RentalState) => RentalInfo.fromPartial({ rentalId, state, gpuIndices: [0], startedAt: new Date().toISOString(), reason: state === RentalState.RENTAL_STATE_STOPPED ? "stopped by the hub" : "" });
    node = await startScriptedNode(
      t,
      creds,
      {
        startRental: async (cmd) => ({ $case: "rental", value: report(cmd.rentalId, RentalState.RENTAL_STATE_RUNNING) }),
        stopRental: async (cmd) => ({ $case: "rental", value: report(cmd.rentalId, RentalState.RENTAL_STATE_STOPPED) }),
      },
      [],
      info,
    );
    node.more = { gpus: [GpuStatus.fromPartial({ ...GPU, activity: GpuActivity.GPU_ACTIVITY_FREE, healthy: true, utilizationGpuPercent: 3, temperatureCelsius: 40 })] };
    await node.beat();

    browser = await launchChromium();
    browser.context.setDefaultTimeout(40_000); // generous: a loaded CI machine shares two cores with Chromium, the hub and anvil
    renterPage = await browser.context.newPage();
    watchErrors(renterPage);
    renterWallet = await injectTestWallet(renterPage, new Wallet(anvil.devKey(1)), { chainId: anvil.chainId, sendTransaction: renterSender.send });
  });

  afterAll(async () => {
    await browser?.close();
    await node?.stop();
    await t?.close();
    chain?.destroy();
    await anvil?.stop();
  });

  function watchErrors(page: Page): void {
    page.on("pageerror", (err) => pageErrors.push(`page error: ${err.message}`));
    // CSP violations and script errors land here; failed requests (401 before sign-in) do not count.
    page.on("console", (msg) => void (msg.type() === "error" && !msg.text().startsWith("Failed to load resource") && pageErrors.push(`console: ${msg.text()}`)));
  }

  async function signIn(page: Page, address: string): Promise<void> {
    await page.goto(t.http.baseUrl);
    await page.locator("#feed-status", { hasText: "live" }).waitFor();
    await page.getByRole("button", { name: "Sign in with wallet" }).click();
    await page.locator("#wallet-address", { hasText: address }).waitFor();
  }

  /** Starts a rental from the form; resolves to its id once its row shows. */
  async function rentFromForm(page: Page, known: string[]): Promise<string> {
    await page.locator("#rent-node").selectOption(nodeId);
    await page.locator("#rent-image").fill("busybox:latest");
    await page.locator("#rent-command").fill("sleep 3600");
    await page.locator("#rent-duration").fill(String(MINUTES));
    await page.getByRole("button", { name: "Start rental" }).click();
    let id: string | undefined;
    await expect
      .poll(async () => {
        const ids = await Promise.all((await page.locator("#rentals tr[data-rental-id]").all()).map((r) => r.getAttribute("data-rental-id")));
        id = ids.find((x): x is string => !!x && !known.includes(x));
        return id;
      }, { timeout: 20_000 })
      .toBeDefined();
    if (!id) throw new Error("no new rental row");
    return id;
  }

  it("signs in on the escrow's chain and says where rentals are paid, and that the hub is in step with the chain", async () => {
    await signIn(renterPage, renterSender.address);
    const status = renterPage.locator("#chain-status");
    await status.filter({ hasText: new RegExp(`^paid on chain 31337, escrow ${escapeRe(`${(await escrow.getAddress()).slice(0, 6)}…${(await escrow.getAddress()).slice(-4)}`)}; synced$`) }).waitFor();
    expect(await status.locator("code").getAttribute("title")).toBe(await escrow.getAddress());
    expect(renterWallet.signed[0]).toContain("Chain ID: 31337");
  });

  let rentalId: string;
  let fundingHash: string;

  it("rents from the form: the rental awaits payment, showing its deposit in ether (the wei on hover) and a Pay button", async () => {
    rentalId = await rentFromForm(renterPage, []);
    const row = rentalRow(renterPage, rentalId);
    await row.locator(".rental-status", { hasText: "awaiting_payment" }).waitFor();
    await row.locator(".payment-status", { hasText: "awaiting payment" }).waitFor();
    const deposit = row.locator(".payment-deposit");
    await deposit.filter({ hasText: `deposit ${eth(DEPOSIT)}` }).waitFor();
    expect(await deposit.getAttribute("title")).toBe(`${DEPOSIT} wei`);
    await row.locator(".pay-deadline", { hasText: /^pay within [12]:\d\d$/ }).waitFor();
    await row.getByRole("button", { name: "Pay" }).waitFor();
  });

  it("pays through the wallet: the page sends the hub's call, shows its hash while it waits for confirmations, then the rental runs", async () => {
    const row = rentalRow(renterPage, rentalId);
    const release = renterSender.hold(); // the wallet answers the hash but broadcasts only when the test says
    await row.getByRole("button", { name: "Pay" }).click();
    const sent = row.locator(".payment-sent", { hasText: new RegExp(`^sent 0x[0-9a-f]{8}…[0-9a-f]{6} · waiting for ${CONFIRMATIONS} confirmations$`) });
    await sent.waitFor();
    expect(renterWallet.sent).toHaveLength(1);
    // Exactly open(rentalId, provider, price, deposit) on the escrow, with the deposit as value.
    expect(renterWallet.sent[0]).toEqual({
      from: renterSender.address.toLowerCase(),
      to: await escrow.getAddress(),
      value: `0x${DEPOSIT.toString(16)}`,
      data: escrow.interface.encodeFunctionData("open", [rentalKeyOf(rentalId), providerSender.address, PRICE, DEPOSIT]),
    });
    await row.getByRole("button", { name: "Pay" }).waitFor({ state: "detached" });
    await row.locator(".rental-status", { hasText: "awaiting_payment" }).waitFor();
    await mkdir("test-artifacts", { recursive: true });
    await renterPage.screenshot({ path: SCREENSHOT_WAITING, fullPage: true });

    [fundingHash] = (await release()) as [string];
    expect(await sent.locator("code").getAttribute("title")).toBe(fundingHash);
    await row.locator(".rental-status", { hasText: "running" }).waitFor();
    await row.locator(".payment-status", { hasText: "paid" }).waitFor();
    await row.locator(".payment-sent").waitFor({ state: "detached" });
    await row.locator('.tx[data-kind="opened"] code', { hasText: shortHash(fundingHash) }).waitFor();
    expect(await row.locator(".payment-deposit").getAttribute("title")).toBe(`${DEPOSIT} wei`);
    await row.locator(".payment-refund", { hasText: "refund after settlement" }).waitFor();
  });

  it("stops the rental: the page shows deposit, used and refund to the wei of the chain's settlement, and its transaction", async () => {
    const row = rentalRow(renterPage, rentalId);
    await row.locator(".rental-elapsed", { hasText: /^0:00:(0[2-9]|[1-5]\d)$/ }).waitFor();
    await row.getByRole("button", { name: "Stop" }).click();
    await row.locator(".rental-status", { hasText: "stopped" }).waitFor();
    await row.locator(".payment-status", { hasText: "settled" }).waitFor();

    const [settled] = await escrow.queryFilter(escrow.filters.RentalSettled!(rentalKeyOf(rentalId)));
    const { providerAmount, renterRefund } = (settled as unknown as { args: { providerAmount: bigint; renterRefund: bigint } }).args;
    expect(providerAmount).toBeGreaterThan(0n);
    expect(providerAmount + renterRefund).toBe(DEPOSIT);
    for (const [cls, label, wei] of [
      ["payment-deposit", "deposit", DEPOSIT],
      ["payment-used", "used", providerAmount],
      ["payment-refund", "refund", renterRefund],
    ] as const) {
      const cell = row.locator(`.${cls}`);
      await cell.filter({ hasText: `${label} ${eth(wei)}` }).waitFor();
      expect(await cell.getAttribute("title")).toBe(`${wei} wei`);
    }
    await row.locator('.tx[data-kind="settled"] code', { hasText: shortHash(settled!.transactionHash) }).waitFor();
    expect(await row.locator(".txs").textContent()).toMatch(/^opened 0x\S+ started 0x\S+ settled 0x\S+$/);
    await renterPage.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  let refusedId: string;

  it("shows a refused funding's reason and its refund", async () => {
    refusedId = await rentFromForm(renterPage, [rentalId]);
    const row = rentalRow(renterPage, refusedId);
    await row.getByRole("button", { name: "Pay" }).waitFor();
    // Funded by hand at another price than the node's: the hub refuses it and refunds the whole deposit.
    const data = escrow.interface.encodeFunctionData("open", [rentalKeyOf(refusedId), providerSender.address, PRICE + 1n, DEPOSIT]);
    await (await renterSender.signer.sendTransaction({ to: await escrow.getAddress(), value: DEPOSIT, data })).wait();
    await row.locator(".rental-status", { hasText: "failed" }).waitFor();
    await row.locator(".payment-status", { hasText: "refused" }).waitFor();
    await row.locator(".payment-refusal", { hasText: `refused: the funding's price is ${PRICE + 1n} wei/s, but the node's is ${PRICE}` }).waitFor();
    const refund = row.locator(".payment-refund", { hasText: `refund ${eth(DEPOSIT)}` });
    await refund.waitFor();
    expect(await refund.getAttribute("title")).toBe(`${DEPOSIT} wei`);
    await row.locator(".payment-used", { hasText: "used 0 ETH" }).waitFor();

    // Both refunds are the renter's to withdraw; its balance shows as the chain has it.
    const balance = await balanceOf(renterSender.address);
    const withdrawable = renterPage.locator("#balance-section #withdrawable", { hasText: eth(balance) });
    await withdrawable.waitFor();
    expect(await withdrawable.getAttribute("title")).toBe(`${balance} wei`);
    await renterPage.locator("#earnings-nodes").waitFor({ state: "hidden" }); // the renter runs no node
  });

  it("shows the provider its settled earnings per node, and withdraws its balance through its wallet", async () => {
    const context = await browser.browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1440, height: 900 } });
    context.setDefaultTimeout(40_000); // generous: a loaded CI machine shares two cores with Chromium, the hub and anvil
    const page = await context.newPage();
    watchErrors(page);
    const wallet = await injectTestWallet(page, new Wallet(anvil.devKey(2)), { chainId: anvil.chainId, sendTransaction: providerSender.send });
    await signIn(page, providerSender.address);

    const [settled] = await escrow.queryFilter(escrow.filters.RentalSettled!(rentalKeyOf(rentalId)));
    const earned = (settled as unknown as { args: { providerAmount: bigint } }).args.providerAmount;
    const nodeRow = page.locator(`#earnings-nodes tr[data-node-id="${nodeId}"]`);
    await nodeRow.locator(".earn-settled", { hasText: eth(earned) }).waitFor();
    expect(await nodeRow.locator(".earn-settled").getAttribute("title")).toBe(`${earned} wei`);
    expect(await nodeRow.locator(".earn-settled-rentals").textContent()).toBe("1");
    expect(await nodeRow.locator(".earn-running").textContent()).toBe("0");
    expect(await balanceOf(providerSender.address)).toBe(earned);
    await page.locator("#withdrawable", { hasText: eth(earned) }).waitFor();
    // Its node's rentals show with their money too.
    await rentalRow(page, rentalId).locator(".payment-used", { hasText: `used ${eth(earned)}` }).waitFor();

    const before = await chain.getBalance(providerSender.address);
    await page.getByRole("button", { name: "Withdraw" }).click();
    await page.locator("#withdraw-status", { hasText: /^withdrawn in 0x[0-9a-f]{8}…[0-9a-f]{6}$/ }).waitFor();
    await page.locator("#withdrawable", { hasText: /^0 ETH$/ }).waitFor();
    expect(await page.getByRole("button", { name: "Withdraw" }).isDisabled()).toBe(true);
    expect(wallet.sent).toEqual([{ from: providerSender.address.toLowerCase(), to: await escrow.getAddress(), value: "0x0", data: "0x3ccfd60b" }]);
    expect(await balanceOf(providerSender.address)).toBe(0n);
    // The account got the earnings, less the gas it paid.
    expect((await chain.getBalance(providerSender.address)) - before).toBeGreaterThan(earned - 10n ** 16n);
    await context.close();
  });

  it("shows the chain as unreachable when its RPC stops answering", async () => {
    await anvil.stop();
    await renterPage.locator("#chain-status .chain-sync", { hasText: "chain unreachable" }).waitFor({ timeout: 30_000 });
    await renterPage.screenshot({ path: SCREENSHOT_UNREACHABLE });
    expect(pageErrors).toEqual([]);
  });
});
