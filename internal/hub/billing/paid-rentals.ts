import type { Logger } from "pino";
import type { TokenInfo } from "../../chain/escrow.js";
import { EthersEscrow } from "../../chain/ethers-escrow.js";
import { ChainListener, type ChainStatus } from "../../chain/listener.js";
import { Settler } from "../../chain/settler.js";
import type { ChainOptions } from "../options.js";
import type { RentalBook } from "../rentals/rental-book.js";
import type { HubStore } from "../store/hub-store.js";
import type { PaymentSource } from "../http/rental-views.js";
import { Lease } from "../cluster/lease.js";
import { Billing } from "./billing.js";

/** The chain's side of the hub, put together: escrow adapter, log listener, operator outbox, billing. */
export class PaidRentals {
  readonly billing: Billing;
  readonly escrow: EthersEscrow;
  readonly listener: ChainListener;
  readonly settler: Settler;
  readonly chainId: number;
  /** The chain's work (reading logs, sending the operator's transactions) runs on one hub at a time. */
  readonly lease: Lease;
  /** Read once from the escrow, as soon as the chain answers. */
  private token: TokenInfo | null | undefined;
  private readingToken = false;

  constructor(
    readonly opts: ChainOptions,
    private readonly deps: { store: HubStore; logger: Logger },
  ) {
    const chainId = (this.chainId = opts.chainId);
    this.lease = new Lease({ name: "chain", ttlMs: 15_000, renewMs: 5_000 }, { store: deps.store.leases, logger: deps.logger.child({ part: "chain" }) });
    this.escrow = new EthersEscrow({ rpcUrl: opts.rpcUrl, chainId, address: opts.escrowAddress, ...(opts.operatorKey ? { operatorKey: opts.operatorKey } : {}) });
    this.settler = new Settler(
      { pollMs: opts.pollMs, maxBackoffMs: 60_000, resendAfterMs: 10 * 60_000 },
      { chain: this.escrow, payments: deps.store.payments, logger: deps.logger.child({ part: "settler" }), onTick: () => this.billing.queueLostSettlements(), isLeader: () => this.lease.held },
    );
    this.billing = new Billing(opts, { store: deps.store, logger: deps.logger.child({ part: "billing" }), wakeSettler: () => this.settler.wake() });
    this.listener = new ChainListener(
      { confirmations: opts.confirmations, pollMs: opts.pollMs, maxBackoffMs: 60_000, fromBlock: opts.fromBlock, maxRange: 2_000, chainId },
      { chain: this.escrow, cursors: deps.store.payments, handle: (log) => this.billing.onLog(log), logger: deps.logger.child({ part: "chain" }), isLeader: () => this.lease.held },
    );
  }

  /** After the book has loaded its rentals: finishes what a restart interrupted, then follows the chain. */
  async start(book: RentalBook): Promise<void> {
    this.billing.attach(book);
    this.listener.on("status", (s) => void (s.connected && this.token === undefined && this.readToken()));
    await this.billing.resume();
    this.lease.on("acquired", () => {
      this.listener.wake();
      this.settler.wake();
    });
    await this.lease.tryOnce().catch((err: unknown) => this.deps.logger.warn({ err }, "could not take the chain lease yet; trying again"));
    this.lease.start();
    this.listener.start();
    if (this.escrow.operator) this.settler.start();
    else this.deps.logger.warn("no -operator-key-file: rentals start once funded, but their start and settle transactions wait until the hub has the operator's key");
    this.deps.logger.info(
      { escrow: this.opts.escrowAddress, chainId: this.chainId, confirmations: this.opts.confirmations, operator: this.escrow.operator },
      `rentals are paid through the escrow ${this.opts.escrowAddress} on chain ${this.chainId}; a funding counts after ${this.opts.confirmations} confirmation(s)`,
    );
  }

  private async readToken(): Promise<void> {
    if (this.readingToken) return;
    this.readingToken = true;
    this.token = await this.escrow.token().catch(() => undefined);
    this.readingToken = false;
  }

  source(): PaymentSource {
    const paid = this;
    return {
      store: this.deps.store.payments,
      get place() {
        return { chainId: paid.chainId, escrowAddress: paid.opts.escrowAddress, publicRpcUrl: paid.opts.publicRpcUrl, token: paid.token === undefined ? undefined : (paid.token?.address ?? null) };
      },
      askedDeposit: (r) => this.billing.askedDeposit(r),
    };
  }

  /** What amounts are in: the escrow's token, or the chain's native currency (undefined until the chain answers). */
  currency(): { symbol: string; decimals: number; token: string | null } | undefined {
    if (this.token === undefined) return undefined;
    return this.token ? { symbol: this.token.symbol, decimals: this.token.decimals, token: this.token.address } : { symbol: this.opts.currencySymbol, decimals: 18, token: null };
  }

  status(): ChainStatus {
    return this.listener.status();
  }

  async close(): Promise<void> {
    await this.settler.close();
    await this.listener.close();
    await this.lease.close();
    this.escrow.close();
  }
}
