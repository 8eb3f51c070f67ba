// gpu-rent pays for itself: a real hub process reading a real local chain (anvil, a block every
// 200 ms, 3 confirmations), a real node process on the real Docker engine, and the CLI as a user
// runs it. It sends the funding from the renter's wallet, follows the start, shows the money to
// the wei, and withdraws the refund; the chain's own balances check every amount.
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { Contract, JsonRpcProvider, Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAnvil, type RunningAnvil } from "../../internal/chain/anvil.js";
import { rentalEscrowAbi } from "../../internal/chain/contracts/rental-escrow-artifact.js";
import { deployEscrow } from "../../internal/chain/deploy-escrow.js";
import { DockerodeEngine } from "../../internal/container/dockerode-engine.js";
import type { RentalView } from "../../internal/hubapi/rentals.js";
import { removeNodeLeftovers } from "../support/node-leftovers.js";
import { DIST, type Program } from "../support/program.js";
import { daemonArgs, type HubProcess, startDaemon, startHub, tempDir, writeKeyFile } from "../support/stack.js";

/** Wei per second: large and odd, so a wrong product shows in the last digits. */
const PRICE = 1_234_567_890_123n;
const CONFIRMATIONS = 3;
const IMAGE = "gpunode-test/busybox:latest";
const HASH = /^0x[0-9a-f]{64}$/;

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}
type Paid = RentalView & { payment: NonNullable<RentalView["payment"]>; funding?: { txHash: string; from: string } };

describe("gpu-rent on a hub that takes payments", () => {
  const engine = new DockerodeEngine();
  let anvil: RunningAnvil;
  let chain: JsonRpcProvider;
  let escrow: Contract;
  let hub: HubProcess;
  let daemon: Program;
  let nodeId: string;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let renterWallet: Wallet;
  let keyFile: string;
  /** Every rental funded here: its settlement comes after the job ends, and withdraw waits for all of them. */
  const funded: string[] = [];

  const cliEnv = () => ({ PATH: process.env.PATH, HOME: dir.path, GPU_RENT_CONFIG_DIR: join(dir.path, "config") });
  const cli = (args: string[]): Promise<Ran> =>
    new Promise((resolve) => {
      const env = cliEnv();
      execFile(process.execPath, [`${DIST}cmd/gpu-rent/main.js`, ...args], { env }, (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }));
    });
  const json = async <T>(args: string[]): Promise<T> => {
    const r = await cli(["--json", ...args]);
    expect(r.code, `${args.join(" ")}: ${r.stdout}${r.stderr}`).toBe(0);
    return JSON.parse(r.stdout) as T;
  };
  /** The hub's own word that a rental's settlement is final: it logs it once it acted on the log. */
  const settled = (rentalId: string) => hub.program.waitFor((l) => l.msg === "rental settled on chain" && l.rentalId === rentalId, `the settlement of ${rentalId}`);
  const escrowBalance = (who: string) => escrow.getFunction("balanceOf").staticCall(who) as Promise<bigint>;

  beforeAll(async () => {
    dir = await tempDir("renter-cli-paid");
    anvil = await startAnvil({ blockTimeSeconds: 0.2 });
    chain = new JsonRpcProvider(anvil.rpcUrl, undefined, { staticNetwork: true });
    const deployed = await deployEscrow({ rpcUrl: anvil.rpcUrl, deployerKey: anvil.devKey(0), reclaimDelaySeconds: 3_600 });
    escrow = new Contract(deployed.address, rentalEscrowAbi, chain);
    const operatorKeyFile = await writeKeyFile(dir.path, new Wallet(anvil.devKey(0)));
    hub = await startHub(join(dir.path, "hub"), {
      args: [
        "--heartbeat-interval", "500ms",
        "--chain-id", String(anvil.chainId), "--chain-rpc", anvil.rpcUrl, "--chain-public-rpc", anvil.rpcUrl,
        "--escrow-address", deployed.address, "--escrow-from-block", String(deployed.blockNumber),
        "--chain-confirmations", String(CONFIRMATIONS), "--chain-poll", "200ms", "--operator-key-file", operatorKeyFile,
      ],
    });
    // The provider's wallet is funded (anvil's account 2), as a real provider's is to withdraw its earnings.
    const base = 46_000 + Math.floor(Math.random() * 50) * 20;
    daemon = startDaemon(
      daemonArgs(hub, await writeKeyFile(dir.path, new Wallet(anvil.devKey(2))), join(dir.path, "certs"), [
        "-chain-id", String(anvil.chainId), "-enable-mining=false", "-price-per-sec", PRICE.toString(),
        "-ssh-ports", `${base}-${base + 19}`, "-ssh-listen-host", "127.0.0.1",
      ]),
    );
    nodeId = (await daemon.waitFor((l) => l.created === true, "registration")).nodeId as string;
    await daemon.waitFor((l) => l.seq === 2, "a heartbeat");
    renterWallet = new Wallet(anvil.devKey(1));
    keyFile = await writeKeyFile(dir.path, renterWallet);
    // The hub signs renters in for its chain (31337): login takes the chain id the hub names.
    expect((await json<{ address: string }>(["login", "--hub-http", hub.httpUrl, "--hub-ca-fingerprint", hub.caFingerprint, "--key-file", keyFile])).address).toBe(renterWallet.address);
  });

  afterAll(async () => {
    await daemon?.kill("SIGKILL");
    await removeNodeLeftovers(engine, nodeId);
    await hub?.program.kill("SIGKILL");
    chain?.destroy();
    await anvil?.stop();
    await dir?.remove();
  });

  it("rent --wait --json pays from the wallet, runs the job, and the settlement is seconds x price to the wei", async () => {
    const done = await cli(["--json", "rent", "--wait", "--gpus", "0", "--image", IMAGE, "--max-duration", "2m", "--", "sh", "-c", "exit 0"]);
    expect(done.code, done.stdout + done.stderr).toBe(0);
    const job = JSON.parse(done.stdout) as Paid;
    funded.push(job.id);
    expect(job).toMatchObject({ status: "exited", exitCode: 0, nodeId, funding: { txHash: expect.stringMatching(HASH), from: renterWallet.address } });
    const deposit = PRICE * 120n;
    expect(job.payment).toMatchObject({ chainId: anvil.chainId, escrowAddress: await escrow.getAddress(), depositWei: deposit.toString(), pay: null });
    // The funding the CLI sent is the one the hub acted on, and the chain has it from the renter.
    expect(job.payment.transactions[0]).toMatchObject({ kind: "opened", txHash: job.funding!.txHash });
    const fundingTx = await chain.getTransaction(job.funding!.txHash);
    expect({ from: fundingTx?.from, value: fundingTx?.value }).toEqual({ from: renterWallet.address, value: deposit });

    await settled(job.id);
    const shown = await json<Paid>(["show", job.id]);
    const used = BigInt(shown.payment.secondsUsed ?? -1) * PRICE;
    expect(shown.payment).toMatchObject({ status: "settled", secondsUsed: shown.secondsUsed, usedWei: used.toString(), refundWei: (deposit - used).toString() });

    const cost = await json<{ costWei: string; payment: Paid["payment"] }>(["cost", job.id]);
    expect(cost.payment.transactions.map((t) => t.kind)).toEqual(["opened", "started", "settled"]);
    for (const t of cost.payment.transactions) {
      expect(t.txHash).toMatch(HASH);
      expect((await chain.getTransactionReceipt(t.txHash))?.status).toBe(1);
    }
    const text = await cli(["cost", job.id]);
    expect(text.stdout).toContain(`deposit   ${deposit} wei`);
    expect(text.stdout).toContain(`refund    ${deposit - used} wei`);
    for (const t of cost.payment.transactions) expect(text.stdout).toContain(t.txHash);
  });

  it("shows the funding's hash and its confirmations as blocks come, then follows the start", async () => {
    const done = await cli(["rent", "--wait", "--gpus", "0", "--image", IMAGE, "--max-duration", "1m", "--", "true"]);
    expect(done.code, done.stdout + done.stderr).toBe(0);
    const id = /rental +([0-9a-f-]{36})/.exec(done.stdout)?.[1] ?? "";
    funded.push(id);
    expect(done.stderr).toMatch(/funding 0x[0-9a-f]{64} sent from /);
    expect(done.stderr).toMatch(new RegExp(`funding 0x[0-9a-f]{8}… [0-${CONFIRMATIONS}]/${CONFIRMATIONS} confirmations`));
    expect(done.stderr.indexOf("confirmations")).toBeLessThan(done.stderr.indexOf("\nstarting"));
    expect(done.stdout).toMatch(/payment +funded: deposit /);
  });

  it("says how to pay by hand when the wallet's key is not there (exit 1), and leaves the rental waiting", async () => {
    const refused = await cli(["--json", "rent", "--gpus", "0", "--image", IMAGE, "--key-file", join(dir.path, "missing.key"), "--", "true"]);
    expect(refused.code).toBe(1);
    const error = (JSON.parse(refused.stdout) as { error: { code: string; message: string; rentalId: string; pay: { to: string; value: string; data: string } } }).error;
    expect(error.pay).toMatchObject({ to: await escrow.getAddress(), value: (PRICE * 3_600n).toString(), data: expect.stringMatching(/^0x/) });
    expect(error.message).toContain(`to pay by hand, send on chain ${anvil.chainId} this transaction: to ${error.pay.to}, value ${error.pay.value} wei`);
    expect(error.message).toContain(`data ${error.pay.data}`);
    expect((await json<RentalView>(["show", error.rentalId])).status).toBe("awaiting_payment");
    expect((await json<RentalView>(["stop", error.rentalId])).status).toBe("stopped");
  });

  it("stops following on Ctrl-C while the funding gathers confirmations: the rental goes on and starts", async () => {
    const child = spawn(process.execPath, [`${DIST}cmd/gpu-rent/main.js`, "rent", "--wait", "--gpus", "0", "--image", IMAGE, "--max-duration", "1m", "--", "true"], { env: cliEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    const exited = once(child, "exit") as Promise<[number | null]>;
    await new Promise<void>((resolve) =>
      child.stderr.on("data", (c: Buffer) => {
        stderr += c.toString();
        if (/0\/3 confirmations/.test(stderr)) resolve();
      }),
    );
    child.kill("SIGINT");
    const [code] = await exited;
    const id = /rental ([0-9a-f-]{36}) on node/.exec(stderr)?.[1] ?? "";
    funded.push(id);
    expect(code, stderr).toBe(1);
    expect(stderr).toContain(`stopped following; rental ${id} goes on (gpu-rent show ${id})`);
    // The funding was sent: the hub starts the job on it anyway.
    await hub.program.waitFor((l) => l.msg === "rental funded; starting it" && l.rentalId === id, "the funding");
  });

  it("tops up a running rental by a duration at its price: the hub counts it and the deposit grows", async () => {
    const started = await json<Paid>(["rent", "--no-wait", "--gpus", "0", "--image", IMAGE, "--max-duration", "1m", "--", "sh", "-c", "trap 'exit 0' TERM; sleep 60 & wait"]);
    funded.push(started.id);
    await hub.program.waitFor((l) => l.msg === "rental funded; starting it" && l.rentalId === started.id, "the funding");
    const topped = await json<{ txHash: string; amountWei: string; addedSeconds: number; rental: Paid }>(["topup", started.id, "--duration", "30s"]);
    expect(topped).toMatchObject({ amountWei: (PRICE * 30n).toString(), addedSeconds: 30, txHash: expect.stringMatching(HASH) });
    expect(topped.rental.payment.depositWei).toBe((PRICE * 90n).toString());
    expect(topped.rental.payment.transactions.map((t) => t.kind)).toContain("toppedUp");
    expect(await cli(["topup", started.id])).toMatchObject({ code: 2 });
    await json(["stop", started.id]);
  });

  it("runs replicas as separate paid rentals, one funding each from the same wallet", async () => {
    const ran = await json<{ failed: number; replicas: Array<{ rentalId: string; status: string; exitCode: number; fundingTxHash: string }> }>(["run", IMAGE, "--gpus", "0", "--replicas", "2", "--max-duration", "1m", "--", "sh", "-c", "echo $REPLICA_INDEX"]);
    expect(ran.failed).toBe(0);
    funded.push(...ran.replicas.map((r) => r.rentalId));
    const views = await Promise.all(ran.replicas.map((r) => json<Paid>(["show", r.rentalId])));
    const fundings = views.map((v) => v.payment.transactions.find((t) => t.kind === "opened")?.txHash);
    expect(new Set(fundings).size).toBe(2);
    expect(fundings).toEqual(ran.replicas.map((r) => r.fundingTxHash));
    for (const hash of fundings) expect((await chain.getTransaction(hash ?? ""))?.from).toBe(renterWallet.address);
  });

  it("withdraws the renter's escrow balance to the wallet: the chain balance grows by the amount less the fee", async () => {
    for (const id of funded) await settled(id);
    const owed = await escrowBalance(renterWallet.address);
    expect(owed).toBeGreaterThan(0n);
    const before = await chain.getBalance(renterWallet.address);
    const out = await json<{ amountWei: string; txHash: string; feeWei: string }>(["withdraw"]);
    expect(out.amountWei).toBe(owed.toString());
    const receipt = await chain.getTransactionReceipt(out.txHash);
    const fee = receipt!.gasUsed * receipt!.gasPrice;
    expect(out.feeWei).toBe(fee.toString());
    expect((await chain.getBalance(renterWallet.address, receipt!.blockNumber)) - before).toBe(owed - fee);
    expect(await escrowBalance(renterWallet.address)).toBe(0n);
    expect(await cli(["withdraw"])).toMatchObject({ code: 1, stderr: expect.stringContaining("nothing to withdraw") });
  });
});
