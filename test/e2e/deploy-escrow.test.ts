// `rental-hub deploy-escrow` as an operator runs it: the committed escrow build lands on a real chain
// (anvil) and the command says how to point the hub at it; a key file others can read is refused.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Contract, JsonRpcProvider, Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningAnvil, startAnvil } from "../../internal/chain/anvil.js";
import { rentalEscrowAbi } from "../../internal/chain/contracts/rental-escrow-artifact.js";
import { HUB_SCRIPT } from "../support/program.js";
import { tempDir } from "../support/stack.js";

describe("rental-hub deploy-escrow", () => {
  let anvil: RunningAnvil;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    [anvil, dir] = await Promise.all([startAnvil(), tempDir("deploy-escrow")]);
  });
  afterAll(async () => {
    await anvil?.stop();
    await dir?.remove();
  });

  async function deploy(keyFile: string, ...more: string[]): Promise<{ code: number | null; out: string; err: string }> {
    const child = spawn(process.execPath, [HUB_SCRIPT, "deploy-escrow", "--chain-rpc", anvil.rpcUrl, "--key-file", keyFile, ...more], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const [code] = (await once(child, "exit")) as [number | null];
    return { code, out, err };
  }

  async function keyFile(name: string, key: string, mode: number): Promise<string> {
    const file = join(dir.path, name);
    await writeFile(file, `${key}\n`, { mode });
    await chmod(file, mode);
    return file;
  }

  it("deploys the escrow with the key's address as operator, and prints its address and block", async () => {
    const key = anvil.devKey(3);
    const operator = Wallet.createRandom().address;
    const r = await deploy(await keyFile("deployer.key", key, 0o600), "--operator", operator, "--reclaim-delay", "2h", "--json");
    expect(r.code, r.err).toBe(0);
    const d = JSON.parse(r.out) as { address: string; blockNumber: number; operator: string };
    const chain = new JsonRpcProvider(anvil.rpcUrl, undefined, { staticNetwork: true });
    try {
      const escrow = new Contract(d.address, rentalEscrowAbi, chain);
      expect(await escrow.getFunction("owner").staticCall()).toBe(operator);
      expect(await escrow.getFunction("reclaimDelay").staticCall()).toBe(7_200n);
      expect((await chain.getTransactionReceipt((await chain.getBlock(d.blockNumber, false))!.transactions[0]!))?.contractAddress).toBe(d.address);
    } finally {
      chain.destroy();
    }
    const plain = await deploy(await keyFile("deployer.key", key, 0o600));
    expect(plain.out).toMatch(/^RentalEscrow deployed at 0x[0-9a-fA-F]{40} in block \d+ .*\nRun the hub with: -chain-rpc URL -escrow-address 0x[0-9a-fA-F]{40} -escrow-from-block \d+ -operator-key-file PATH\n$/);
    expect(plain.out + plain.err).not.toContain(key.slice(2));
  });

  it("refuses a key file others can read, without printing the key", async () => {
    const key = anvil.devKey(4);
    const r = await deploy(await keyFile("loose.key", key, 0o644));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/loose\.key is readable by group or others \(mode 0644\); run: chmod 600/);
    expect(r.out + r.err).not.toContain(key.slice(2));
  });
});
