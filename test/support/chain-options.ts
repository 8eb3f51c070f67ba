import type { RunningAnvil } from "../../internal/chain/anvil.js";
import type { DeployedEscrow } from "../../internal/chain/deploy-escrow.js";
import type { ChainOptions } from "../../internal/hub/options.js";

/** A hub's payment settings for an escrow on a local anvil: anvil's account 0 operates it; quick polls and short waits. */
export function localChainOptions(anvil: RunningAnvil, deployed: DeployedEscrow, o: Partial<ChainOptions> = {}): ChainOptions {
  return {
    rpcUrl: anvil.rpcUrl,
    chainId: anvil.chainId,
    publicRpcUrl: anvil.rpcUrl,
    escrowAddress: deployed.address,
    confirmations: 3,
    operatorKey: anvil.devKey(0),
    fromBlock: deployed.blockNumber,
    pollMs: 100,
    paymentWindowMs: 120_000,
    minPaidSeconds: 3,
    defaultPaidSeconds: 600,
    currencySymbol: "ETH",
    ...o,
  };
}
