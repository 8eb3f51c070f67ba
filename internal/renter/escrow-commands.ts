import type { Command } from "commander";
import { type BaseWallet, Contract, type JsonRpcProvider, type TransactionReceipt } from "ethers";
import { rentalEscrowAbi } from "../chain/contracts/rental-escrow-artifact.js";
import { escrowInterface } from "../chain/ethers-escrow.js";
import { action } from "./action.js";
import { chainMessage, chainPlace, connectChain, type PayOptions, payOptions, payingWallet } from "./chain-access.js";
import { CliError, usageError } from "./cli-error.js";
import { Confirmations } from "./funding.js";
import { HubApi, type RentalView } from "./hub-api.js";
import { ether } from "./output.js";
import { parseDurationMs } from "./rental-commands.js";
import { ACTIVE, followRental } from "./rental-events.js";
import { SessionStore } from "./session-store.js";

interface TopUpOptions extends PayOptions {
  duration?: string;
  wei?: string;
  wait?: boolean;
}

/** `withdraw` and `topup`: the renter's own transactions with the hub's escrow. */
export function addEscrowCommands(program: Command): void {
  payOptions(
    program
      .command("withdraw")
      .description("move your escrow balance (what paid rentals did not use, refused fundings) to your wallet")
      .addHelpText("after", "\nExamples:\n  gpu-rent withdraw\n  gpu-rent withdraw --key-file ~/.config/gpu-rent/wallet.key --chain-rpc https://rpc.example.org\n  gpu-rent --json withdraw | jq -r .amountWei"),
  ).action(
    action<PayOptions>(async ({ out, opts }) => {
      const s = await new SessionStore().require();
      const place = await chainPlace(HubApi.of(s), s.hubHttp);
      const wallet = await payingWallet(opts, s);
      const chain = await connectChain(opts, place.publicRpcUrl, place.chainId);
      try {
        const escrow = escrowOf(place.escrowAddress, wallet, chain);
        const balance = await sent(escrow.getFunction("balanceOf").staticCall(wallet.address) as Promise<bigint>);
        if (balance === 0n) throw new CliError("nothing_to_withdraw", `${wallet.address} has nothing to withdraw from the escrow ${place.escrowAddress} on chain ${place.chainId}`);
        if (!out.json) out.err(`withdrawing ${balance} wei (${ether(balance)}) from the escrow ${place.escrowAddress} to ${wallet.address}`);
        const receipt = await mined(escrow.getFunction("withdraw")(), "the withdrawal");
        // What the escrow paid, from its own log: a settlement between the read and the withdrawal adds to it.
        const amount = withdrawnIn(receipt) ?? balance;
        const feeWei = receipt.gasUsed * receipt.gasPrice;
        const result = { address: wallet.address, escrowAddress: place.escrowAddress, chainId: place.chainId, amountWei: amount.toString(), txHash: receipt.hash, blockNumber: receipt.blockNumber, feeWei: feeWei.toString() };
        if (out.json) return out.out(JSON.stringify(result, null, 2));
        out.out(`withdrew ${amount} wei (${ether(amount)}) to ${wallet.address} in ${receipt.hash} (block ${receipt.blockNumber}, fee ${feeWei} wei)`);
      } finally {
        chain.destroy();
      }
    }),
  );

  payOptions(
    program
      .command("topup")
      .description("add to a paid rental's deposit so that it runs longer: --duration at the rental's price, or exactly --wei")
      .argument("<rental>", "rental id")
      .option("--duration <duration>", "pay for this much more time, e.g. 30m or 2h")
      .option("--wei <n>", "add exactly this many wei")
      .option("--no-wait", "return once the top-up is mined, before the hub counts it")
      .addHelpText("after", "\nExamples:\n  gpu-rent topup 5f0c... --duration 1h\n  gpu-rent topup 5f0c... --wei 9000000000000000 --no-wait"),
  ).action(
    action<TopUpOptions>(async ({ out, opts, args, signal }) => {
      const id = args[0] ?? "";
      if ((opts.duration === undefined) === (opts.wei === undefined)) throw usageError("give --duration (e.g. 1h) or --wei N, one of them");
      if (opts.wei !== undefined && !/^[1-9]\d{0,77}$/.test(opts.wei)) throw usageError(`--wei ${opts.wei}: a whole number of wei above 0`);
      const seconds = opts.duration === undefined ? undefined : Math.round(parseDurationMs(opts.duration, "--duration") / 1000);
      if (seconds === 0) throw usageError(`--duration ${opts.duration}: at least 1s`);
      const s = await new SessionStore().require();
      const api = HubApi.of(s);
      const r = await api.call<RentalView>("GET", `/v1/rentals/${encodeURIComponent(id)}`);
      const p = r.payment;
      if (!p) throw new CliError("not_paid", `rental ${r.id} is free: there is no deposit to top up`);
      if (!ACTIVE.has(r.status)) throw new CliError("rental_ended", `rental ${r.id} is ${r.status}: a top-up would only come back as a refund`);
      const amount = seconds === undefined ? BigInt(opts.wei ?? "0") : BigInt(p.pricePerSecWei) * BigInt(seconds);
      const place = await chainPlace(api, s.hubHttp);
      const wallet = await payingWallet(opts, s);
      const chain = await connectChain(opts, place.publicRpcUrl, p.chainId);
      const say = (line: string): void => void (out.json ? undefined : out.err(line));
      const confirmations = new Confirmations(chain, place.confirmations, say);
      try {
        const escrow = escrowOf(p.escrowAddress, wallet, chain);
        const onChain = (await sent(escrow.getFunction("rentals").staticCall(p.rentalKey) as Promise<unknown[]>)) as [string, ...unknown[]];
        if (BigInt(onChain[0]) === 0n) throw new CliError("not_funded", `rental ${r.id} has no funding on chain yet: a top-up can only follow it (gpu-rent show ${r.id})`);
        if (onChain[6] === true) throw new CliError("rental_closed", `rental ${r.id} is settled on chain already: nothing to top up`);
        say(`adding ${amount} wei (${ether(amount)}${seconds === undefined ? "" : `, ${seconds} s at ${p.pricePerSecWei} wei/s`}) to the deposit of rental ${r.id}`);
        const receipt = await mined(escrow.getFunction("topUp")(p.rentalKey, amount, { value: amount }), "the top-up");
        say(`top-up ${receipt.hash} mined in block ${receipt.blockNumber}`);
        let latest = r;
        if (opts.wait !== false) {
          confirmations.watch(r.id, "top-up", receipt.hash);
          const counted = (v: RentalView): boolean => v.payment?.transactions.some((t) => t.txHash.toLowerCase() === receipt.hash.toLowerCase()) === true;
          latest = await followRental(s, r.id, () => undefined, counted, signal);
          confirmations.done(r.id);
          say(`the hub counted it: deposit ${ether(latest.payment?.depositWei ?? "0")}${latest.expiresAt ? `, the rental runs until ${latest.expiresAt}` : ""}`);
        }
        const result = { rentalId: r.id, txHash: receipt.hash, blockNumber: receipt.blockNumber, amountWei: amount.toString(), addedSeconds: Number(amount / BigInt(p.pricePerSecWei)), counted: opts.wait !== false, rental: latest };
        if (out.json) return out.out(JSON.stringify(result, null, 2));
        out.out(`topped up rental ${r.id} by ${amount} wei (${ether(amount)}) in ${receipt.hash}`);
      } finally {
        await confirmations.close();
      }
    }),
  );
}

function escrowOf(address: string, wallet: BaseWallet, chain: JsonRpcProvider): Contract {
  return new Contract(address, rentalEscrowAbi, wallet.connect(chain));
}

/** A chain call's failure as the user's error: the escrow's refusal by name, never an RPC URL. */
function sent<T>(p: Promise<T>): Promise<T> {
  return p.catch((err: unknown) => {
    throw new CliError("chain_refused", chainMessage(err));
  });
}

/** Sends, waits for the block, and refuses a reverted transaction. */
async function mined(tx: Promise<{ wait(): Promise<TransactionReceipt | null> }>, what: string): Promise<TransactionReceipt> {
  const receipt = await sent(tx.then((t) => t.wait()));
  if (!receipt || receipt.status !== 1) throw new CliError("transaction_reverted", `${what} ${receipt?.hash ?? ""} reverted: nothing moved`);
  return receipt;
}

function withdrawnIn(receipt: TransactionReceipt): bigint | undefined {
  for (const log of receipt.logs) {
    const parsed = escrowInterface.parseLog({ topics: [...log.topics], data: log.data });
    if (parsed?.name === "Withdrawn") return parsed.args[1] as bigint;
  }
  return undefined;
}
