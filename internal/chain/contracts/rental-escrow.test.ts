// The rental escrow contract on a real local chain (anvil, one block per transaction): a paid
// rental pays the provider for the seconds used and refunds the renter the rest, to the wei, in the
// native currency and in an ERC-20 token; every refusal reverts with its own custom error.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  type BaseContract,
  type BaseContractMethod,
  type BytesLike,
  Contract,
  ContractFactory,
  type ContractTransactionResponse,
  id,
  type InterfaceAbi,
  isError,
  JsonRpcProvider,
  type Result,
  type TransactionReceipt,
  Wallet,
  ZeroAddress,
} from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningAnvil, startAnvil } from "../anvil.js";
import { artifactModule, compileContract } from "./compile.js";
import { rentalEscrowAbi, rentalEscrowBytecode } from "./rental-escrow-artifact.js";

const ESCROW_SOURCE = fileURLToPath(new URL("./RentalEscrow.sol", import.meta.url));
const ESCROW_ARTIFACT = fileURLToPath(new URL("./rental-escrow-artifact.ts", import.meta.url));
const TEST_TOKEN_SOURCE = fileURLToPath(new URL("../../../test/fixtures/chain/TestToken.sol", import.meta.url));

/** Wei per second: large and odd, so that a wrong product or rounding shows in the last digits. */
const PRICE = 1_234_567_890_123n;
/** Ten minutes' worth. */
const DEPOSIT = PRICE * 600n;
const RECLAIM_DELAY = 3_600n;
const RENTAL = id("rental-1");

describe("the committed RentalEscrow artifact", () => {
  it("is what compiling RentalEscrow.sol gives today", () => {
    const fresh = artifactModule("RentalEscrow", compileContract(ESCROW_SOURCE, "RentalEscrow"));
    expect(readFileSync(ESCROW_ARTIFACT, "utf8"), "rental-escrow-artifact.ts is stale: run `npm run contracts`").toBe(fresh);
  });
});

describe("RentalEscrow on anvil", () => {
  let anvil: RunningAnvil;
  let rpc: JsonRpcProvider;
  let deployer: Wallet, operator: Wallet, renter: Wallet, provider: Wallet, stranger: Wallet;

  beforeAll(async () => {
    anvil = await startAnvil();
    // No request cache: a balance read right after a transaction must see that transaction.
    rpc = new JsonRpcProvider(anvil.rpcUrl, anvil.chainId, { staticNetwork: true, cacheTimeout: -1 });
    [deployer, operator, renter, provider, stranger] = [0, 1, 2, 3, 4].map((i) => new Wallet(anvil.devKey(i), rpc)) as [Wallet, Wallet, Wallet, Wallet, Wallet];
  });

  afterAll(async () => {
    rpc?.destroy();
    await anvil?.stop();
  });

  /** A fresh escrow, deployed by someone other than its operator; `as(wallet)` is the same contract signed by `wallet`. */
  async function deployEscrow(token: string = ZeroAddress): Promise<DeployedEscrow> {
    const deployed = await new ContractFactory(rentalEscrowAbi, rentalEscrowBytecode, deployer).deploy(operator.address, token, RECLAIM_DELAY);
    await deployed.waitForDeployment();
    const address = await deployed.getAddress();
    return { address, as: (wallet) => new Contract(address, rentalEscrowAbi, wallet) as unknown as Escrow };
  }

  /** A fresh escrow in the native currency with RENTAL opened by the renter for DEPOSIT. */
  async function escrowWithOpenRental(): Promise<DeployedEscrow> {
    const escrow = await deployEscrow();
    await mined(escrow.as(renter).open(RENTAL, provider.address, PRICE, DEPOSIT, { value: DEPOSIT }));
    return escrow;
  }

  it("pays the provider for the seconds used and refunds the renter the rest, to the wei", async () => {
    const escrow = await deployEscrow();
    expect(await escrow.as(renter).owner()).toBe(operator.address);

    const opened = await mined(escrow.as(renter).open(RENTAL, provider.address, PRICE, DEPOSIT, { value: DEPOSIT }));
    expect(eventArgs(opened, escrow.as(renter), "RentalOpened").toObject()).toEqual({ rentalId: RENTAL, renter: renter.address, provider: provider.address, pricePerSec: PRICE, deposit: DEPOSIT });
    expect(await rpc.getBalance(escrow.address)).toBe(DEPOSIT);

    await mined(escrow.as(operator).markStarted(RENTAL));
    const settled = await mined(escrow.as(operator).settle(RENTAL, 137n));

    const owed = 137n * PRICE;
    const refund = DEPOSIT - owed;
    expect(eventArgs(settled, escrow.as(operator), "RentalSettled").toObject()).toEqual({ rentalId: RENTAL, secondsUsed: 137n, providerAmount: owed, renterRefund: refund });
    expect(await escrow.as(operator).balanceOf(provider.address)).toBe(owed);
    expect(await escrow.as(operator).balanceOf(renter.address)).toBe(refund);
    expect(await rentalOf(escrow.as(operator), RENTAL)).toMatchObject({ started: true, closed: true, deposit: DEPOSIT });

    expect(await nativeGainFromWithdraw(rpc, escrow.as(provider))).toBe(owed);
    expect(await nativeGainFromWithdraw(rpc, escrow.as(renter))).toBe(refund);
    expect(await escrow.as(operator).balanceOf(provider.address)).toBe(0n);
    expect(await escrow.as(operator).balanceOf(renter.address)).toBe(0n);
    expect(await rpc.getBalance(escrow.address)).toBe(0n);
  });

  it("says what each withdrawal paid", async () => {
    const escrow = await escrowWithOpenRental();
    await mined(escrow.as(operator).settle(RENTAL, 1n));
    const receipt = await mined(escrow.as(provider).withdraw());
    expect(eventArgs(receipt, escrow.as(provider), "Withdrawn").toObject()).toEqual({ account: provider.address, amount: PRICE });
  });

  it("caps the provider's pay at the deposit, to the last wei", async () => {
    // A deposit that is not a whole number of seconds: 600 s and 5 wei.
    const deposit = DEPOSIT + 5n;
    const settleWith = async (secondsUsed: bigint): Promise<Record<string, unknown>> => {
      const escrow = await deployEscrow();
      await mined(escrow.as(renter).open(RENTAL, provider.address, PRICE, deposit, { value: deposit }));
      return eventArgs(await mined(escrow.as(operator).settle(RENTAL, secondsUsed)), escrow.as(operator), "RentalSettled").toObject();
    };

    expect(await settleWith(600n)).toMatchObject({ providerAmount: 600n * PRICE, renterRefund: 5n });
    expect(await settleWith(601n)).toMatchObject({ providerAmount: deposit, renterRefund: 0n });
  });

  it("pays the whole deposit and refunds nothing when the seconds used exceed it", async () => {
    const escrow = await escrowWithOpenRental();
    await mined(escrow.as(operator).settle(RENTAL, 601n));

    expect(await escrow.as(operator).balanceOf(provider.address)).toBe(DEPOSIT);
    expect(await escrow.as(operator).balanceOf(renter.address)).toBe(0n);
    expect(await nativeGainFromWithdraw(rpc, escrow.as(provider))).toBe(DEPOSIT);
    await expectRevert(escrow.as(renter).withdraw(), escrow.as(renter), "NothingToWithdraw");
    expect(await rpc.getBalance(escrow.address)).toBe(0n);
  });

  it.each([
    ["2^255", 2n ** 255n],
    ["2^256 - 1", 2n ** 256n - 1n],
  ])("does not overflow on a huge secondsUsed (%s)", async (_, secondsUsed) => {
    const escrow = await escrowWithOpenRental();
    const settled = await mined(escrow.as(operator).settle(RENTAL, secondsUsed));

    expect(eventArgs(settled, escrow.as(operator), "RentalSettled").toObject()).toEqual({ rentalId: RENTAL, secondsUsed, providerAmount: DEPOSIT, renterRefund: 0n });
    expect(await escrow.as(operator).balanceOf(provider.address)).toBe(DEPOSIT);
  });

  it("adds top-ups from the renter and from anyone else to the deposit, and settles on the new deposit", async () => {
    const escrow = await escrowWithOpenRental();
    const fromRenter = 1_000_000_007n;
    const fromStranger = PRICE * 60n + 3n;

    const byRenter = await mined(escrow.as(renter).topUp(RENTAL, fromRenter, { value: fromRenter }));
    expect(eventArgs(byRenter, escrow.as(renter), "RentalToppedUp").toObject()).toEqual({ rentalId: RENTAL, from: renter.address, amount: fromRenter, deposit: DEPOSIT + fromRenter });
    const byStranger = await mined(escrow.as(stranger).topUp(RENTAL, fromStranger, { value: fromStranger }));
    const total = DEPOSIT + fromRenter + fromStranger;
    expect(eventArgs(byStranger, escrow.as(stranger), "RentalToppedUp").toObject()).toEqual({ rentalId: RENTAL, from: stranger.address, amount: fromStranger, deposit: total });
    expect(await rentalOf(escrow.as(renter), RENTAL)).toMatchObject({ deposit: total });
    expect(await rpc.getBalance(escrow.address)).toBe(total);

    // 650 s is more than the first deposit covers and less than the new one.
    await mined(escrow.as(operator).markStarted(RENTAL));
    await mined(escrow.as(operator).settle(RENTAL, 650n));
    expect(await escrow.as(operator).balanceOf(provider.address)).toBe(650n * PRICE);
    // What is left goes back to the renter, whoever topped up.
    expect(await escrow.as(operator).balanceOf(renter.address)).toBe(total - 650n * PRICE);
    expect(await escrow.as(operator).balanceOf(stranger.address)).toBe(0n);

    await expectRevert(escrow.as(renter).topUp(RENTAL, 1n, { value: 1n }), escrow.as(renter), "RentalClosed", [RENTAL]);
  });

  it("refuses a top-up of nothing or with the wrong value", async () => {
    const escrow = await escrowWithOpenRental();
    await expectRevert(escrow.as(renter).topUp(RENTAL, 0n), escrow.as(renter), "InvalidTerms");
    await expectRevert(escrow.as(renter).topUp(RENTAL, 10n, { value: 9n }), escrow.as(renter), "WrongAmount", [10n, 9n]);
    expect(await rentalOf(escrow.as(renter), RENTAL)).toMatchObject({ deposit: DEPOSIT });
  });

  it("lets the renter reclaim the whole deposit of a rental never started, once the delay has passed", async () => {
    const escrow = await escrowWithOpenRental();
    await advanceTime(rpc, RECLAIM_DELAY);

    const reclaimed = await mined(escrow.as(renter).reclaim(RENTAL));
    expect(eventArgs(reclaimed, escrow.as(renter), "RentalReclaimed").toObject()).toEqual({ rentalId: RENTAL, amount: DEPOSIT });
    expect(await escrow.as(renter).balanceOf(renter.address)).toBe(DEPOSIT);
    expect(await escrow.as(renter).balanceOf(provider.address)).toBe(0n);
    expect(await nativeGainFromWithdraw(rpc, escrow.as(renter))).toBe(DEPOSIT);
    expect(await rpc.getBalance(escrow.address)).toBe(0n);

    await expectRevert(escrow.as(operator).settle(RENTAL, 1n), escrow.as(operator), "RentalClosed", [RENTAL]);
    await expectRevert(escrow.as(operator).markStarted(RENTAL), escrow.as(operator), "RentalClosed", [RENTAL]);
    await expectRevert(escrow.as(renter).reclaim(RENTAL), escrow.as(renter), "RentalClosed", [RENTAL]);
  });

  describe("refuses", () => {
    it("a second open of the same rental id, by anyone", async () => {
      const escrow = await escrowWithOpenRental();
      await expectRevert(escrow.as(renter).open(RENTAL, provider.address, PRICE, DEPOSIT, { value: DEPOSIT }), escrow.as(renter), "RentalExists", [RENTAL]);
      await expectRevert(escrow.as(stranger).open(RENTAL, stranger.address, 1n, 1n, { value: 1n }), escrow.as(stranger), "RentalExists", [RENTAL]);
      expect(await rentalOf(escrow.as(renter), RENTAL)).toMatchObject({ renter: renter.address, provider: provider.address, deposit: DEPOSIT });
    });

    it.each([
      ["a zero price", { price: 0n }],
      ["no provider", { provider: ZeroAddress }],
      ["a zero amount", { amount: 0n }],
    ])("an open with %s (InvalidTerms)", async (_, terms: { price?: bigint; provider?: string; amount?: bigint }) => {
      const escrow = await deployEscrow();
      const amount = terms.amount ?? DEPOSIT;
      await expectRevert(escrow.as(renter).open(RENTAL, terms.provider ?? provider.address, terms.price ?? PRICE, amount, { value: amount }), escrow.as(renter), "InvalidTerms");
      expect(await rentalOf(escrow.as(renter), RENTAL)).toMatchObject({ renter: ZeroAddress });
    });

    it.each([
      ["less", DEPOSIT - 1n],
      ["more", DEPOSIT + 1n],
      ["nothing", 0n],
    ])("an open that sends %s than the amount (WrongAmount)", async (_, value) => {
      const escrow = await deployEscrow();
      await expectRevert(escrow.as(renter).open(RENTAL, provider.address, PRICE, DEPOSIT, { value }), escrow.as(renter), "WrongAmount", [DEPOSIT, value]);
      expect(await rpc.getBalance(escrow.address)).toBe(0n);
    });

    it("a settlement by anyone but the operator, the deployer included", async () => {
      const escrow = await escrowWithOpenRental();
      for (const someone of [renter, provider, deployer]) {
        await expectRevert(escrow.as(someone).settle(RENTAL, 1n), escrow.as(someone), "OwnableUnauthorizedAccount", [someone.address]);
      }
      expect(await rentalOf(escrow.as(operator), RENTAL)).toMatchObject({ closed: false });
      expect(await escrow.as(operator).balanceOf(provider.address)).toBe(0n);
    });

    it("a second settlement", async () => {
      const escrow = await escrowWithOpenRental();
      await mined(escrow.as(operator).settle(RENTAL, 10n));
      await expectRevert(escrow.as(operator).settle(RENTAL, 20n), escrow.as(operator), "RentalClosed", [RENTAL]);
      expect(await escrow.as(operator).balanceOf(provider.address)).toBe(10n * PRICE);
    });

    it("markStarted by anyone but the operator", async () => {
      const escrow = await escrowWithOpenRental();
      await expectRevert(escrow.as(provider).markStarted(RENTAL), escrow.as(provider), "OwnableUnauthorizedAccount", [provider.address]);
      expect(await rentalOf(escrow.as(operator), RENTAL)).toMatchObject({ started: false });
    });

    it("markStarted twice", async () => {
      const escrow = await escrowWithOpenRental();
      await mined(escrow.as(operator).markStarted(RENTAL));
      await expectRevert(escrow.as(operator).markStarted(RENTAL), escrow.as(operator), "RentalAlreadyStarted", [RENTAL]);
    });

    it("a settlement, start or top-up of an unknown rental", async () => {
      const escrow = await escrowWithOpenRental();
      const unknown = id("no-such-rental");
      await expectRevert(escrow.as(operator).settle(unknown, 1n), escrow.as(operator), "UnknownRental", [unknown]);
      await expectRevert(escrow.as(operator).markStarted(unknown), escrow.as(operator), "UnknownRental", [unknown]);
      await expectRevert(escrow.as(renter).topUp(unknown, 1n, { value: 1n }), escrow.as(renter), "UnknownRental", [unknown]);
    });

    it("a reclaim before the delay, saying when it will be allowed", async () => {
      const escrow = await escrowWithOpenRental();
      const { openedAt } = await rentalOf(escrow.as(renter), RENTAL);
      await expectRevert(escrow.as(renter).reclaim(RENTAL), escrow.as(renter), "ReclaimTooEarly", [RENTAL, openedAt + RECLAIM_DELAY]);
      await advanceTime(rpc, RECLAIM_DELAY - 60n);
      await expectRevert(escrow.as(renter).reclaim(RENTAL), escrow.as(renter), "ReclaimTooEarly", [RENTAL, openedAt + RECLAIM_DELAY]);
      expect(await escrow.as(renter).balanceOf(renter.address)).toBe(0n);
    });

    it("a reclaim by anyone but the renter", async () => {
      const escrow = await escrowWithOpenRental();
      await advanceTime(rpc, RECLAIM_DELAY);
      for (const someone of [provider, operator, stranger]) {
        await expectRevert(escrow.as(someone).reclaim(RENTAL), escrow.as(someone), "NotRenter", [RENTAL]);
      }
      expect(await rentalOf(escrow.as(renter), RENTAL)).toMatchObject({ closed: false });
    });

    it("a reclaim of a started rental, however late", async () => {
      const escrow = await escrowWithOpenRental();
      await mined(escrow.as(operator).markStarted(RENTAL));
      await advanceTime(rpc, RECLAIM_DELAY * 10n);
      await expectRevert(escrow.as(renter).reclaim(RENTAL), escrow.as(renter), "RentalAlreadyStarted", [RENTAL]);
      expect(await escrow.as(renter).balanceOf(renter.address)).toBe(0n);
    });

    it("a withdrawal with nothing to withdraw", async () => {
      const escrow = await escrowWithOpenRental();
      await expectRevert(escrow.as(provider).withdraw(), escrow.as(provider), "NothingToWithdraw");
      // Nor does a settled balance pay out twice.
      await mined(escrow.as(operator).settle(RENTAL, 1n));
      await mined(escrow.as(provider).withdraw());
      await expectRevert(escrow.as(provider).withdraw(), escrow.as(provider), "NothingToWithdraw");
      expect(await rpc.getBalance(escrow.address)).toBe(DEPOSIT - PRICE);
    });
  });

  describe("paid in an ERC-20 token", () => {
    const MINTED = 10n ** 24n;
    let tokenAbi: InterfaceAbi, tokenBytecode: string;

    beforeAll(() => {
      const compiled = compileContract(TEST_TOKEN_SOURCE, "TestToken");
      // solc's ABI is JSON fragments; compile.ts leaves it untyped.
      [tokenAbi, tokenBytecode] = [compiled.abi as InterfaceAbi, compiled.bytecode];
    });

    /** A fresh token, MINTED to the renter and the stranger, and a fresh escrow paid in it. */
    async function deployTokenEscrow(): Promise<{ escrow: DeployedEscrow; token: (wallet: Wallet) => Token }> {
      const deployed = await new ContractFactory(tokenAbi, tokenBytecode, deployer).deploy();
      await deployed.waitForDeployment();
      const tokenAddress = await deployed.getAddress();
      const token = (wallet: Wallet): Token => new Contract(tokenAddress, tokenAbi, wallet) as unknown as Token;
      await mined(token(deployer).mint(renter.address, MINTED));
      await mined(token(deployer).mint(stranger.address, MINTED));
      return { escrow: await deployEscrow(tokenAddress), token };
    }

    it("takes the deposit by allowance, settles and pays out token balances exactly", async () => {
      const { escrow, token } = await deployTokenEscrow();
      expect(await escrow.as(renter).token()).toBe(await token(renter).getAddress());

      await mined(token(renter).approve(escrow.address, DEPOSIT));
      await mined(escrow.as(renter).open(RENTAL, provider.address, PRICE, DEPOSIT));
      expect(await token(renter).balanceOf(renter.address)).toBe(MINTED - DEPOSIT);
      expect(await token(renter).balanceOf(escrow.address)).toBe(DEPOSIT);

      await mined(escrow.as(operator).markStarted(RENTAL));
      await mined(escrow.as(operator).settle(RENTAL, 137n));
      await mined(escrow.as(provider).withdraw());
      await mined(escrow.as(renter).withdraw());

      expect(await token(renter).balanceOf(provider.address)).toBe(137n * PRICE);
      expect(await token(renter).balanceOf(renter.address)).toBe(MINTED - 137n * PRICE);
      expect(await token(renter).balanceOf(escrow.address)).toBe(0n);
      expect(await rpc.getBalance(escrow.address)).toBe(0n);
    });

    it("takes a top-up from anyone by allowance", async () => {
      const { escrow, token } = await deployTokenEscrow();
      await mined(token(renter).approve(escrow.address, DEPOSIT));
      await mined(escrow.as(renter).open(RENTAL, provider.address, PRICE, DEPOSIT));
      await mined(token(stranger).approve(escrow.address, 77n));

      const toppedUp = await mined(escrow.as(stranger).topUp(RENTAL, 77n));
      expect(eventArgs(toppedUp, escrow.as(stranger), "RentalToppedUp").toObject()).toMatchObject({ from: stranger.address, amount: 77n, deposit: DEPOSIT + 77n });
      expect(await token(stranger).balanceOf(stranger.address)).toBe(MINTED - 77n);
      expect(await token(stranger).balanceOf(escrow.address)).toBe(DEPOSIT + 77n);
    });

    it("refuses native currency alongside the token", async () => {
      const { escrow, token } = await deployTokenEscrow();
      await mined(token(renter).approve(escrow.address, DEPOSIT));
      await expectRevert(escrow.as(renter).open(RENTAL, provider.address, PRICE, DEPOSIT, { value: 1n }), escrow.as(renter), "WrongAmount", [0n, 1n]);
      await expectRevert(escrow.as(renter).open(RENTAL, provider.address, PRICE, DEPOSIT, { value: DEPOSIT }), escrow.as(renter), "WrongAmount", [0n, DEPOSIT]);
      expect(await token(renter).balanceOf(renter.address)).toBe(MINTED);
      expect(await rpc.getBalance(escrow.address)).toBe(0n);
    });
  });
});

// --- helpers -------------------------------------------------------------------------------------

type Send<A extends unknown[]> = BaseContractMethod<A, void, ContractTransactionResponse>;
type View<A extends unknown[], R> = BaseContractMethod<A, R, R>;

interface RentalRecord {
  renter: string;
  provider: string;
  pricePerSec: bigint;
  deposit: bigint;
  openedAt: bigint;
  started: boolean;
  closed: boolean;
}

/** The escrow's functions, typed (ethers types contract methods only loosely). */
type Escrow = BaseContract & {
  open: Send<[rentalId: BytesLike, provider: string, pricePerSec: bigint, amount: bigint]>;
  topUp: Send<[rentalId: BytesLike, amount: bigint]>;
  markStarted: Send<[rentalId: BytesLike]>;
  settle: Send<[rentalId: BytesLike, secondsUsed: bigint]>;
  reclaim: Send<[rentalId: BytesLike]>;
  withdraw: Send<[]>;
  balanceOf: View<[account: string], bigint>;
  rentals: View<[rentalId: BytesLike], Result>;
  owner: View<[], string>;
  token: View<[], string>;
};

/** A deployed escrow: its address, and the contract as signed by a given wallet. */
interface DeployedEscrow {
  address: string;
  as(wallet: Wallet): Escrow;
}

type Token = BaseContract & {
  mint: Send<[to: string, amount: bigint]>;
  approve: Send<[spender: string, amount: bigint]>;
  balanceOf: View<[account: string], bigint>;
};

/** The escrow's record of a rental, by field name. */
async function rentalOf(escrow: Escrow, rentalId: BytesLike): Promise<RentalRecord> {
  return (await escrow.rentals(rentalId)).toObject() as RentalRecord;
}

/** Waits for a transaction to be mined and checks that it succeeded. */
async function mined(sent: Promise<ContractTransactionResponse>): Promise<TransactionReceipt> {
  const receipt = await (await sent).wait();
  if (!receipt) throw new Error("transaction was not mined");
  expect(receipt.status).toBe(1);
  return receipt;
}

/** The arguments of the one `name` event that `contract` emitted in the transaction. */
function eventArgs(receipt: TransactionReceipt, contract: BaseContract, name: string): Result {
  const address = receipt.to?.toLowerCase();
  const found = receipt.logs
    .filter((log) => log.address.toLowerCase() === address)
    .map((log) => contract.interface.parseLog(log))
    .filter((parsed) => parsed?.name === name);
  expect(found, `one ${name} event`).toHaveLength(1);
  return found[0]!.args;
}

/** Asserts that the call reverts with the contract's custom error `name` (and `args`, when given). */
async function expectRevert(call: Promise<unknown>, contract: BaseContract, name: string, args?: unknown[]): Promise<void> {
  const error = await call.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (error === undefined) expect.fail(`expected a revert with ${name}, but the call succeeded`);
  if (!isError(error, "CALL_EXCEPTION") || !error.data) throw error;
  const decoded = contract.interface.parseError(error.data);
  expect(decoded?.name, `revert data ${error.data}`).toBe(name);
  if (args) expect([...decoded!.args]).toEqual(args);
}

/** Withdraws the wallet's whole escrow balance and says by how much its native balance grew, gas added back. */
async function nativeGainFromWithdraw(rpc: JsonRpcProvider, escrow: Escrow): Promise<bigint> {
  const account = await (escrow.runner as Wallet).getAddress();
  const before = await rpc.getBalance(account);
  const receipt = await mined(escrow.withdraw());
  const after = await rpc.getBalance(account);
  return after - before + receipt.gasUsed * receipt.gasPrice;
}

/** Moves the chain's clock forward and mines a block at the new time. */
async function advanceTime(rpc: JsonRpcProvider, seconds: bigint): Promise<void> {
  await rpc.send("evm_increaseTime", [Number(seconds)]);
  await rpc.send("evm_mine", []);
}
