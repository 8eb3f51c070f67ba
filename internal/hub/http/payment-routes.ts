import type { SessionTokens } from "../../auth/session-tokens.js";
import { type ChainView, getChain, getEarnings } from "../../hubapi/payments.js";
import type { PaidRentals } from "../billing/paid-rentals.js";
import type { HubStore } from "../store/hub-store.js";
import { requireWallet } from "./auth-routes.js";
import type { Router } from "./router.js";

export interface PaymentRouteDeps {
  tokens: SessionTokens;
  store: HubStore;
  paid: PaidRentals | undefined;
}

/** Where and how rentals are paid (anyone may ask), and a provider's earnings (its own wallet only). */
export function addPaymentRoutes(router: Router, deps: PaymentRouteDeps): void {
  router.on(getChain, async (): Promise<ChainView> => {
    const paid = deps.paid;
    if (!paid) return { payments: false };
    const s = paid.status();
    return {
      payments: true,
      chainId: paid.chainId,
      escrowAddress: paid.opts.escrowAddress,
      // The ERC-20 deposits are paid in; null: the chain's native currency (undefined until the chain answers).
      token: paid.source().place.token ?? null,
      // How to show amounts: wei are the currency's base unit, `decimals` of them to one.
      currency: paid.currency() ?? null,
      publicRpcUrl: paid.opts.publicRpcUrl,
      confirmations: paid.opts.confirmations,
      minPaidSeconds: paid.opts.minPaidSeconds,
      paymentWindowSeconds: Math.round(paid.opts.paymentWindowMs / 1000),
      // The RPC's errors stay in the hub's log: they may name the operator's provider.
      // "starting": the hub has not read the chain yet (it just started), which is not "unreachable".
      sync: { state: s.connected ? "connected" : s.lastError ? "unreachable" : "starting", connected: s.connected, readAt: s.readAt, headBlock: s.headBlock, finalBlock: s.finalBlock, processedBlock: s.processedBlock, lagBlocks: s.lagBlocks },
    };
  });

  router.on(getEarnings, async ({ req }) => {
    const wallet = requireWallet(req, deps.tokens);
    const paid = deps.paid;
    if (!paid) return { wallet, payments: false, withdrawableWei: null, nodes: [] };
    const nodes = (await deps.store.listNodes()).filter((n) => n.wallet === wallet);
    const payments = await deps.store.payments.list({ provider: wallet });
    const rentals = new Map((await deps.store.rentals.list({ nodeIds: nodes.map((n) => n.id) })).map((r) => [r.id, r]));
    const perNode = nodes.map((n) => {
      const mine = payments.filter((p) => rentals.get(p.rentalId)?.nodeId === n.id);
      const settled = mine.filter((p) => p.status === "settled").reduce((sum, p) => sum + (p.providerWei ?? 0n), 0n);
      return { nodeId: n.id, settledWei: settled.toString(), settledRentals: mine.filter((p) => p.status === "settled").length, runningPaidRentals: mine.filter((p) => p.status === "funded").length };
    });
    // The escrow's balance is per wallet: withdraw() pays it all, whichever node earned it.
    const withdrawable = await paid.escrow.balanceOf(wallet).catch(() => null);
    return { wallet, payments: true, withdrawableWei: withdrawable?.toString() ?? null, nodes: perNode };
  });
}
