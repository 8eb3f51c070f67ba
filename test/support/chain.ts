// Helpers for process-level tests of paid rentals: a hub process reading a real chain (anvil),
// sign-in for the hub's chain id, the escrow as the chain's truth, and polling with a deadline.
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Contract, type ContractRunner, type JsonRpcProvider, type Signer } from "ethers";
import { createSignIn } from "../../internal/auth/siwe-signer.js";
import { rentalEscrowAbi } from "../../internal/chain/contracts/rental-escrow-artifact.js";
import { type HttpTarget, requestJson } from "../../internal/httpclient/json-client.js";
import { getJson, type HubProcess } from "./stack.js";

/** The hub's REST API, its private CA pinned as a renter's client pins it. */
export async function hubTarget(hub: HubProcess): Promise<HttpTarget> {
  const { caCertPem } = await getJson<{ caCertPem: string }>(`${hub.httpUrl}/v1/ca`);
  return { baseUrl: hub.httpUrl, ca: caCertPem };
}

/**
 * Signs in through the hub's REST API with the chain id the hub was given (-chain-id): a hub that
 * takes payments on anvil (31337) refuses a sign-in for any other chain. Returns the session token.
 */
export async function signInForChain(http: HttpTarget, signer: Signer, chainId: number): Promise<string> {
  const url = new URL(http.baseUrl);
  const { nonce } = await requestJson<{ nonce: string }>(http, "GET", "/v1/auth/nonce");
  const { message, signature } = await createSignIn({ signer, domain: url.host, uri: url.origin, chainId, nonce, statement: "Sign in to rent GPUs." });
  return (await requestJson<{ token: string }>(http, "POST", "/v1/auth/verify", { body: { message, signature } })).token;
}

/** The operator's key in a 0600 file, as -operator-key-file wants it. */
export async function writeOperatorKeyFile(dir: string, privateKey: string): Promise<string> {
  const file = join(dir, "operator.key");
  await writeFile(file, privateKey, { mode: 0o600 });
  await chmod(file, 0o600);
  return file;
}

export interface PaidHubSettings {
  chainId: number;
  rpcUrl: string;
  escrowAddress: string;
  fromBlock: number;
  confirmations: number;
  operatorKeyFile: string;
  pollMs?: number;
}

/** The hub flags that turn paid rentals on. */
export function paidHubArgs(s: PaidHubSettings): string[] {
  return [
    "--chain-id", String(s.chainId),
    "--chain-rpc", s.rpcUrl,
    "--chain-public-rpc", s.rpcUrl,
    "--escrow-address", s.escrowAddress,
    "--escrow-from-block", String(s.fromBlock),
    "--chain-confirmations", String(s.confirmations),
    "--chain-poll", `${s.pollMs ?? 200}ms`,
    "--operator-key-file", s.operatorKeyFile,
  ];
}

/** What the escrow itself says: the chain's truth, whatever the hub shows. */
export class EscrowReader {
  readonly contract: Contract;

  constructor(
    readonly address: string,
    private readonly provider: JsonRpcProvider,
  ) {
    this.contract = new Contract(address, rentalEscrowAbi, provider as ContractRunner);
  }

  balanceOf(account: string): Promise<bigint> {
    return this.contract.getFunction("balanceOf").staticCall(account) as Promise<bigint>;
  }

  async rental(rentalKey: string): Promise<{ depositWei: bigint; started: boolean; closed: boolean }> {
    const r = (await this.contract.getFunction("rentals").staticCall(rentalKey)) as unknown as [string, string, bigint, bigint, bigint, boolean, boolean];
    return { depositWei: r[3], started: r[5], closed: r[6] };
  }

  /** Every RentalSettled log the chain holds for one rental key. */
  async settledLogs(rentalKey: string, fromBlock: number): Promise<Array<{ secondsUsed: bigint; providerWei: bigint; refundWei: bigint; txHash: string }>> {
    const event = this.contract.interface.getEvent("RentalSettled");
    if (!event) throw new Error("the escrow's ABI has no RentalSettled event");
    const logs = await this.provider.getLogs({ address: this.address, topics: [event.topicHash, rentalKey], fromBlock, toBlock: "latest" });
    return logs.map((log) => {
      const parsed = this.contract.interface.parseLog({ topics: [...log.topics], data: log.data });
      if (!parsed) throw new Error(`an unreadable RentalSettled log in ${log.transactionHash}`);
      return { secondsUsed: parsed.args[1] as bigint, providerWei: parsed.args[2] as bigint, refundWei: parsed.args[3] as bigint, txHash: log.transactionHash };
    });
  }
}

/**
 * The chain and the hub's API have no push for "settled" or "running": poll what a user would look
 * at until `check` returns something (not undefined or false), within a deadline.
 */
export async function until<T>(check: () => Promise<T | undefined | false>, what: string, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
