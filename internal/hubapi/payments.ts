import { z } from "zod";
import { dateTimeSchema, intSchema, weiSchema } from "./common.js";
import { operation } from "./operation.js";

export const paymentStatusValues = ["awaiting", "funded", "refused", "settled", "reclaimed"] as const;

/** While a rental awaits payment: the exact transaction to send (any wallet can send `to`, `value`, `data`). */
export const payCallSchema = z
  .object({
    to: z.string().describe("the escrow"),
    value: weiSchema.describe("what to send with it: the deposit, or 0 in an ERC-20 escrow"),
    approve: z
      .object({ to: z.string().describe("the token"), data: z.string(), amount: weiSchema })
      .nullable()
      .describe("An ERC-20 escrow: approve the escrow for the deposit first (send this), then the funding with value 0; null for the native currency"),
    data: z.string().describe("the call's ABI-encoded data"),
    function: z.string().meta({ examples: ["open(bytes32 rentalId, address provider, uint256 pricePerSec, uint256 amount)"] }),
    args: z.array(z.string()),
    rpcUrl: z.string().describe("where the renter's wallet may send it; empty when the operator named none"),
  })
  .meta({ id: "PayCall", description: "While it awaits payment: the exact transaction to send (to, value, data)" });

export type PayCallView = z.input<typeof payCallSchema>;

export const paymentSchema = z
  .object({
    status: z.enum(paymentStatusValues),
    chainId: intSchema,
    escrowAddress: z.string(),
    rentalKey: z.string().describe("The rental's id as the escrow knows it (bytes32)"),
    provider: z.string().describe("The node's wallet: the funding must name it"),
    pricePerSecWei: weiSchema,
    minDepositWei: weiSchema,
    depositWei: weiSchema.describe("what the escrow holds for it (top-ups included); 0 until the funding is final"),
    usedWei: weiSchema.describe("paid to the provider once settled; until then what the time so far costs, at most the deposit"),
    refundWei: weiSchema.nullable().describe("back to the renter's escrow balance once settled (null before)"),
    secondsUsed: intSchema.nullable(),
    refusal: z.string().describe("why a funding was refused; empty otherwise"),
    pay: payCallSchema.nullable(),
    transactions: z.array(
      z.object({
        kind: z.string().describe("the escrow's event: opened, toppedUp, started, settled or reclaimed"),
        txHash: z.string(),
        blockNumber: intSchema,
        logIndex: intSchema,
      }),
    ),
  })
  .meta({ id: "Payment", description: "A rental paid through the escrow contract: wei as decimal strings" });

export type PaymentView = z.input<typeof paymentSchema>;

export const chainSyncSchema = z
  .object({
    state: z.enum(["starting", "connected", "unreachable"]).describe("starting: the hub has not read the chain yet"),
    connected: z.boolean(),
    readAt: dateTimeSchema.nullable().describe("When the chain last answered; null before the first read"),
    headBlock: intSchema.nullable(),
    finalBlock: intSchema.nullable().describe("the newest block with enough confirmations to act on"),
    processedBlock: intSchema.nullable().describe("the newest block whose logs the hub has acted on"),
    lagBlocks: intSchema.nullable().describe("how far the hub is behind the chain's head (confirmations included)"),
  })
  .meta({ id: "ChainSync", description: "How far the hub has read the chain; the RPC's errors stay in the hub's log" });

export const chainSchema = z.union([
  z.object({ payments: z.literal(false).describe("rentals are free") }),
  z.object({
    payments: z.literal(true),
    chainId: intSchema,
    escrowAddress: z.string(),
    token: z.string().nullable().describe("The ERC-20 the escrow takes; null for the chain's native currency"),
    currency: z
      .object({ symbol: z.string(), decimals: intSchema, token: z.string().nullable() })
      .nullable()
      .describe("What amounts (\"wei\") are in: the base unit of this currency, `decimals` of them to one `symbol`; null until the hub has read the chain"),
    publicRpcUrl: z.string(),
    confirmations: intSchema,
    minPaidSeconds: intSchema,
    paymentWindowSeconds: intSchema,
    sync: chainSyncSchema,
  }),
]);

export type ChainView = z.input<typeof chainSchema>;

export const earningsSchema = z.object({
  wallet: z.string(),
  payments: z.boolean(),
  withdrawableWei: weiSchema.nullable().describe("the wallet's escrow balance (withdraw() pays it all); null when the chain did not answer or rentals are free"),
  nodes: z.array(z.object({ nodeId: z.string(), settledWei: weiSchema, settledRentals: intSchema, runningPaidRentals: intSchema })),
});

export const getChain = operation({
  method: "GET",
  path: "/v1/chain",
  operationId: "getChain",
  tags: ["payments"],
  summary: "Whether rentals are paid on chain, where (chain, escrow, a public RPC) and how far the hub has read the chain",
  security: "none",
  reply: { status: 200, description: "Payment settings", schema: chainSchema },
});

export const getEarnings = operation({
  method: "GET",
  path: "/v1/earnings",
  operationId: "getEarnings",
  tags: ["payments"],
  summary: "The signed-in provider's settled earnings per node and its withdrawable escrow balance",
  security: "session",
  reply: { status: 200, description: "Earnings", schema: earningsSchema },
  errors: { 401: "No valid session" },
});
