import { type JsonRpcProvider, NonceManager, Transaction, Wallet } from "ethers";
import type { WalletTransaction } from "./browser.js";

/**
 * What a browser wallet does with `eth_sendTransaction`, against a real chain: signs with its key,
 * counts its own nonces (anvil's pending count can lag a transaction that waits for the next block),
 * broadcasts, and answers the hash. Give `send` to injectTestWallet; send the test's own
 * transactions through `signer` so that both count one nonce sequence.
 */
export class ChainSender {
  readonly signer: NonceManager;
  private readonly wallet: Wallet;
  private held: Array<{ hash: string; signed: string }> | undefined;

  constructor(
    key: string,
    private readonly provider: JsonRpcProvider,
  ) {
    this.wallet = new Wallet(key, provider);
    this.signer = new NonceManager(this.wallet);
  }

  get address(): string {
    return this.wallet.address;
  }

  readonly send = async (tx: WalletTransaction): Promise<string> => {
    // As NonceManager.sendTransaction does: the nonce is taken and counted in the same tick.
    const nonce = this.signer.getNonce("pending");
    this.signer.increment();
    const populated = await this.wallet.populateTransaction({ to: tx.to, value: BigInt(tx.value ?? "0x0"), data: tx.data ?? "0x", nonce: await nonce });
    const signed = await this.wallet.signTransaction(populated);
    const hash = Transaction.from(signed).hash ?? "";
    if (this.held) this.held.push({ hash, signed });
    else await this.provider.broadcastTransaction(signed);
    return hash;
  };

  /**
   * From now on transactions are signed and their hashes answered, but not broadcast: a wallet
   * slow to broadcast, so that the test sees what the page shows meanwhile. `release` broadcasts
   * them and resolves to their hashes.
   */
  hold(): () => Promise<string[]> {
    const held: Array<{ hash: string; signed: string }> = (this.held = []);
    return async () => {
      this.held = undefined;
      for (const h of held) await this.provider.broadcastTransaction(h.signed);
      return held.map((h) => h.hash);
    };
  }
}
