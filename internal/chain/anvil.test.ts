import { readdir } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { JsonRpcProvider, Wallet } from "ethers";
import { describe, expect, it } from "vitest";
import { KEPT_STATES, startAnvil } from "./anvil.js";

/** Where anvil writes the states it does not keep in memory, unless told not to. */
const STATE_CACHE = join(homedir(), ".foundry", "anvil", "tmp");
const cached = (): Promise<string[]> => readdir(STATE_CACHE).catch(() => []);

describe("the local chain (anvil)", () => {
  it("leaves nothing on disk however many blocks it mines, and still answers for recent state", async () => {
    const before = new Set(await cached());
    const anvil = await startAnvil();
    const chain = new JsonRpcProvider(anvil.rpcUrl, undefined, { staticNetwork: true });
    try {
      const rich = new Wallet(anvil.devKey(0)).address;
      await chain.send("anvil_mine", [`0x${(4 * KEPT_STATES).toString(16)}`]);
      const head = await chain.getBlockNumber();
      expect(head).toBe(4 * KEPT_STATES);
      expect(await chain.getBalance(rich, head - 10)).toBeGreaterThan(0n);
    } finally {
      chain.destroy();
      await anvil.stop();
    }
    expect((await cached()).filter((d) => !before.has(d))).toEqual([]);
  });
});
