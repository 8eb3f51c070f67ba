import { InvalidArgumentError } from "commander";
import { getAddress } from "ethers";

/** A 0x address, kept checksummed (EIP-55); a wrongly mixed-case one is refused as a likely typo. */
export function ethAddress(v: string): string {
  try {
    return getAddress(v.trim());
  } catch {
    throw new InvalidArgumentError("expected an Ethereum address: 0x and 40 hex digits");
  }
}
