import { Interface } from "ethers";
import { escrowInterface } from "../../chain/ethers-escrow.js";
import type { PayCallView, PaymentView } from "../../hubapi/payments.js";
import { secondsUsed } from "../rentals/rental-cost.js";
import type { ChainEventRecord, RentalPayment } from "../store/payment-store.js";
import type { HubRental } from "../store/rental-store.js";

export interface EscrowPlace {
  chainId: number;
  escrowAddress: string;
  /** Where renters' wallets may send the funding ("" when the operator named none). */
  publicRpcUrl: string;
  /** The ERC-20 the escrow takes, or null for the native currency (undefined until read from the chain). */
  token?: string | null;
}

const erc20 = new Interface(["function approve(address spender, uint256 amount)"]);

/**
 * A paid rental's money as its renter and provider see it: wei as decimal strings. While it awaits
 * payment, `pay` is the exact call to make (any wallet can send `to`, `value`, `data`).
 */
export function paymentView(p: RentalPayment, r: HubRental, events: ChainEventRecord[], place: EscrowPlace, askedDepositWei: bigint, now = new Date()): PaymentView {
  const used = p.providerWei ?? minBig(BigInt(secondsUsed(r, now)) * p.pricePerSecWei, p.depositWei);
  return {
    status: p.status,
    chainId: place.chainId,
    escrowAddress: place.escrowAddress,
    rentalKey: p.rentalKey,
    provider: p.provider,
    pricePerSecWei: p.pricePerSecWei.toString(),
    minDepositWei: p.minDepositWei.toString(),
    depositWei: p.depositWei.toString(),
    usedWei: used.toString(),
    refundWei: p.refundWei?.toString() ?? null,
    secondsUsed: p.secondsUsed,
    refusal: p.refusal,
    pay: p.status === "awaiting" && r.status === "awaiting_payment" ? payCall(p, askedDepositWei, place) : null,
    transactions: events.map((e) => ({ kind: e.kind, txHash: e.txHash, blockNumber: e.blockNumber, logIndex: e.logIndex })),
  };
}

function payCall(p: RentalPayment, depositWei: bigint, place: EscrowPlace): PayCallView {
  const args = [p.rentalKey, p.provider, p.pricePerSecWei, depositWei] as const;
  const token = place.token ?? null;
  return {
    to: place.escrowAddress,
    // In a token escrow the deposit moves by transferFrom: nothing is sent as value, and the escrow must be approved first.
    value: token ? "0" : depositWei.toString(),
    approve: token ? { to: token, data: erc20.encodeFunctionData("approve", [place.escrowAddress, depositWei]), amount: depositWei.toString() } : null,
    data: escrowInterface.encodeFunctionData("open", [...args]),
    function: "open(bytes32 rentalId, address provider, uint256 pricePerSec, uint256 amount)",
    args: args.map(String),
    rpcUrl: place.publicRpcUrl,
  };
}

const minBig = (a: bigint, b: bigint): bigint => (a < b ? a : b);
