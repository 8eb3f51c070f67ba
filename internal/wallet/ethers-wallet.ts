import { Wallet } from "ethers";
import { fromHex } from "./private-key.js";

/** An ethers wallet from a hex key (the renter's CLI signs transactions with it); errors name `where` and never echo the key. */
export function walletFromHex(raw: string, where: string): Wallet {
  return fromHex(raw, where, (key) => new Wallet(key));
}
