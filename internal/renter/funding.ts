import { type BaseWallet, getAddress, Interface, type JsonRpcProvider, NonceManager } from "ethers";
import { escrowInterface } from "../chain/ethers-escrow.js";
import { chainMessage, chainPlace, connectChain, type PayOptions, payingWallet } from "./chain-access.js";
import { CliError } from "./cli-error.js";
import type { HubApi, RentalView } from "./hub-api.js";
import { ether } from "./output.js";
import type { Session } from "./session-store.js";

type PayCall = NonNullable<NonNullable<RentalView["payment"]>["pay"]>;
/** An escrow in an ERC-20 token: the hub asks for an approval of the deposit before `open` (value 0). */
interface Approval {
  to: string;
  amount: string;
  data: string;
}
const approvalOf = (pay: PayCall): Approval | undefined => (pay as PayCall & { approve?: Approval | null }).approve ?? undefined;
const erc20 = new Interface(["function approve(address spender, uint256 amount)"]);

/** The hub made the rental and waits for its funding, and says how to send it. */
export function awaitsFunding(r: RentalView): r is RentalView & { payment: NonNullable<RentalView["payment"]> & { pay: PayCall } } {
  return r.status === "awaiting_payment" && r.payment?.status === "awaiting" && r.payment.pay !== null;
}

/** What anyone can send instead, with any wallet on the chain (the refund goes back to that wallet). */
export function payByHand(r: RentalView): string {
  const p = r.payment;
  if (!p?.pay) return "";
  const approval = approvalOf(p.pay);
  const first = approval ? `first the token's approval: to ${approval.to}, data ${approval.data}; then ` : "";
  return `to pay by hand, send on chain ${p.chainId} ${first}this transaction: to ${p.pay.to}, value ${p.pay.value} wei (${ether(p.pay.value)}), data ${p.pay.data}`;
}

/** "0x12345678…": a transaction in a progress line (the whole hash is printed when it is sent). */
export const shortHash = (hash: string): string => `${hash.slice(0, 10)}…`;

/**
 * Confirmations of transactions as the chain's blocks come, one line each time a count changes
 * ("funding 0x12345678… 2/12 confirmations"), until the caller says the hub has seen enough. A
 * transaction that reverts ends the wait: `signal` aborts and `failure` says why.
 */
export class Confirmations {
  readonly failure: { error?: CliError } = {};
  private readonly watched = new Map<string, { label: string; txHash: string; block: number | null; shown: number }>();
  private readonly abort = new AbortController();
  private listening = false;
  /** ethers subscribes and unsubscribes asynchronously: one after the other, or an unsubscribe can pass its subscribe and leave it polling. */
  private subscribing: Promise<unknown> = Promise.resolve();
  private busy = false;
  private head = 0;

  constructor(
    private readonly chain: JsonRpcProvider,
    readonly needed: number,
    private readonly say: (line: string) => void,
  ) {}

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  watch(key: string, label: string, txHash: string): void {
    this.watched.set(key, { label, txHash, block: null, shown: 0 });
    this.say(`${label} ${shortHash(txHash)} 0/${this.needed} confirmations`);
    this.listen(true);
  }

  /** The hub acted on it (or it no longer matters): no more lines for it. */
  done(key: string): void {
    this.watched.delete(key);
    if (this.watched.size === 0) this.listen(false);
  }

  /** Stops listening and lets the provider go (its polling would keep the process alive). */
  async close(): Promise<void> {
    this.listen(false);
    await this.subscribing;
    this.chain.destroy();
  }

  private listen(on: boolean): void {
    if (this.listening === on) return;
    this.listening = on;
    this.subscribing = this.subscribing.then(() => (on ? this.chain.on("block", this.onBlock) : this.chain.off("block", this.onBlock))).catch(() => undefined);
  }

  /** ethers emits every block number in turn: the newest counts, and blocks that come while counting are counted after. */
  private readonly onBlock = (head: number): void => {
    this.head = Math.max(this.head, head);
    if (this.busy) return;
    this.busy = true;
    void (async () => {
      for (let counted = -1; counted < this.head; ) {
        counted = this.head;
        await this.count(counted).catch(() => undefined); // an RPC hiccup: the next block tries again
      }
      this.busy = false;
    })();
  };

  private async count(head: number): Promise<void> {
    for (const [key, w] of this.watched) {
      if (w.block === null) {
        const receipt = await this.chain.getTransactionReceipt(w.txHash);
        if (!receipt) continue;
        if (receipt.status === 0) {
          this.watched.delete(key);
          this.failure.error = new CliError("transaction_reverted", `${w.label} ${w.txHash} reverted in block ${receipt.blockNumber}: the escrow took nothing (gpu-rent show ${key})`);
          this.abort.abort(this.failure.error);
          return;
        }
        w.block = receipt.blockNumber;
      }
      const now = Math.min(this.needed, head - w.block + 1);
      if (now > w.shown) this.say(`${w.label} ${shortHash(w.txHash)} ${now}/${this.needed} confirmations${now === this.needed ? ": final, the hub acts on it when it reads the block" : ""}`);
      w.shown = Math.max(w.shown, now);
    }
  }
}

/**
 * Pays for rentals that await their funding: from the renter's wallet, exactly the transaction the
 * hub gives (checked first against the payment it describes), one after another with the wallet's
 * nonces counted here. Their confirmations show until the hub's view of each leaves awaiting.
 */
export class RentalFunding {
  /** Rental id to the funding's transaction hash. */
  readonly sent = new Map<string, string>();

  private constructor(
    readonly from: string,
    readonly confirmations: Confirmations,
  ) {}

  /**
   * Sends the fundings. Refuses (exit 1) without a wallet, an RPC of the right chain, or when a
   * transaction cannot be sent; `byHand` adds to that message how to pay without gpu-rent.
   */
  static async send(rentals: RentalView[], deps: { api: HubApi; session: Session; opts: PayOptions; say: (line: string) => void; byHand: boolean }): Promise<RentalFunding> {
    const { api, session, opts, say } = deps;
    const [first] = rentals.filter(awaitsFunding);
    if (!first) throw new Error("nothing to fund");
    const refuse = (err: unknown, r: RentalView = first): never => {
      const why = err instanceof CliError ? err.message : chainMessage(err);
      const hint = deps.byHand ? `; rental ${r.id} awaits its funding: ${payByHand(r)} (or gpu-rent stop ${r.id})` : "";
      throw new CliError(err instanceof CliError ? err.code : "funding_failed", `could not pay for rental ${r.id}: ${why}${hint}`, 1, deps.byHand ? { rentalId: r.id, pay: r.payment?.pay ?? null } : {});
    };
    let wallet: BaseWallet;
    let chain: JsonRpcProvider;
    let needed: number;
    try {
      wallet = await payingWallet(opts, session);
      needed = (await chainPlace(api, session.hubHttp)).confirmations;
      chain = await connectChain(opts, first.payment.pay.rpcUrl, first.payment.chainId);
    } catch (err) {
      return refuse(err);
    }
    if (getAddress(wallet.address) !== getAddress(session.address)) say(`paying from ${wallet.address}, not the signed-in ${session.address}: refunds go back to ${wallet.address}`);
    const funding = new RentalFunding(wallet.address, new Confirmations(chain, needed, say));
    const signer = new NonceManager(wallet.connect(chain));
    try {
      for (const r of rentals.filter(awaitsFunding)) {
        if (r.payment.chainId !== first.payment.chainId) refuse(new CliError("wrong_chain", `it is paid on chain ${r.payment.chainId}, not ${first.payment.chainId}`), r);
        const value = checkedValue(r);
        const approval = approvalOf(r.payment.pay);
        if (approval) {
          // Mined before `open`, whose gas estimate would otherwise fail on the missing allowance.
          const approved = await signer.sendTransaction({ to: approval.to, data: approval.data }).catch((err: unknown) => refuse(err, r));
          say(`approval ${approved.hash} sent: the escrow may take ${approval.amount} of token ${approval.to}`);
          await approved.wait().catch((err: unknown) => refuse(err, r));
        }
        const tx = await signer.sendTransaction({ to: r.payment.pay.to, value, data: r.payment.pay.data }).catch((err: unknown) => refuse(err, r));
        funding.sent.set(r.id, tx.hash);
        say(`funding ${tx.hash} sent from ${wallet.address}: ${ether(value)} into the escrow for rental ${r.id}`);
      }
    } catch (err) {
      await funding.close();
      throw err;
    }
    return funding;
  }

  /** From now on, a line each time a funding's confirmations change, until the hub acts on it. */
  showConfirmations(): void {
    for (const [id, hash] of this.sent) this.confirmations.watch(id, "funding", hash);
  }

  /** A rental's latest view: once it no longer awaits its funding, its confirmations are no longer shown. */
  seen(r: RentalView): void {
    if (this.sent.has(r.id) && (r.status !== "awaiting_payment" || r.payment?.status !== "awaiting")) this.confirmations.done(r.id);
  }

  get signal(): AbortSignal {
    return this.confirmations.signal;
  }

  /** Why the wait ended early (a funding reverted), if it did. */
  get failure(): CliError | undefined {
    return this.confirmations.failure.error;
  }

  close(): Promise<void> {
    return this.confirmations.close();
  }
}

/**
 * The hub's pay call is sent as given; it must be what the payment says: `open` of this rental at
 * the node's price and wallet, into the escrow, with the value it deposits.
 */
function checkedValue(r: RentalView & { payment: NonNullable<RentalView["payment"]> & { pay: PayCall } }): bigint {
  const { payment: p } = r;
  const value = BigInt(p.pay.value);
  let call: ReturnType<typeof escrowInterface.parseTransaction>;
  try {
    call = escrowInterface.parseTransaction({ data: p.pay.data, value });
  } catch {
    call = null;
  }
  const [rentalKey, provider, price, amount] = (call?.args ?? []) as unknown as [string, string, bigint, bigint];
  const approval = approvalOf(p.pay);
  // In the native currency the value is the deposit; in a token the value is 0 and the approval is the deposit, to the escrow.
  const paysAmount = approval ? value === 0n && approvedAmount(approval, p.escrowAddress) === amount : amount === value;
  const matches =
    call?.name === "open" &&
    getAddress(p.pay.to) === getAddress(p.escrowAddress) &&
    String(rentalKey).toLowerCase() === p.rentalKey.toLowerCase() &&
    getAddress(provider) === getAddress(p.provider) &&
    price === BigInt(p.pricePerSecWei) &&
    paysAmount;
  if (!matches) throw new CliError("bad_pay_call", `the hub's payment call for rental ${r.id} is not open(${p.rentalKey}, ${p.provider}, ${p.pricePerSecWei}, ${p.pay.value}) on the escrow ${p.escrowAddress}: not sending it`);
  return value;
}

function approvedAmount(a: Approval, escrowAddress: string): bigint | undefined {
  try {
    const call = erc20.parseTransaction({ data: a.data });
    if (call?.name !== "approve" || getAddress(call.args[0] as string) !== getAddress(escrowAddress)) return undefined;
    return BigInt(a.amount) === (call.args[1] as bigint) ? BigInt(a.amount) : undefined;
  } catch {
    return undefined;
  }
}
