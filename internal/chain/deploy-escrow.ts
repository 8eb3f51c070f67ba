import { ContractFactory, JsonRpcProvider, Wallet, ZeroAddress } from "ethers";
import { rentalEscrowAbi, rentalEscrowBytecode } from "./contracts/rental-escrow-artifact.js";

export interface DeployEscrowOptions {
  rpcUrl: string;
  /** Pays for the deployment; the operator unless `operator` names another address. */
  deployerKey: string;
  operator?: string;
  /** An ERC-20 to take payments in; absent, the native currency. */
  token?: string;
  reclaimDelaySeconds: number;
}

export interface DeployedEscrow {
  address: string;
  /** Give it to the hub as -escrow-from-block: no log of this escrow is older. */
  blockNumber: number;
  txHash: string;
  operator: string;
}

/** Deploys the committed RentalEscrow build and waits for it to be mined. */
export async function deployEscrow(opts: DeployEscrowOptions): Promise<DeployedEscrow> {
  const provider = new JsonRpcProvider(opts.rpcUrl, undefined, { staticNetwork: true });
  try {
    const deployer = new Wallet(opts.deployerKey, provider);
    const operator = opts.operator ?? deployer.address;
    const contract = await new ContractFactory(rentalEscrowAbi, rentalEscrowBytecode, deployer).deploy(operator, opts.token ?? ZeroAddress, opts.reclaimDelaySeconds);
    const receipt = await contract.deploymentTransaction()?.wait();
    if (!receipt) throw new Error("the deployment was not mined");
    return { address: await contract.getAddress(), blockNumber: receipt.blockNumber, txHash: receipt.hash, operator };
  } finally {
    provider.destroy();
  }
}
