import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet } from "ethers";
import { afterEach, describe, expect, it } from "vitest";
import { loadWallet } from "./private-key.js";

describe("loadWallet from a key file", () => {
  const dirs: string[] = [];
  afterEach(async () => {
    delete process.env.CREDENTIALS_DIRECTORY;
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  async function keyFile(mode: number, sub = ""): Promise<{ dir: string; path: string; wallet: Wallet }> {
    const dir = await mkdtemp(join(tmpdir(), "wallet-"));
    dirs.push(dir);
    await mkdir(join(dir, sub), { recursive: true });
    const wallet = new Wallet(Wallet.createRandom().privateKey);
    const path = join(dir, sub, "wallet.key");
    await writeFile(path, `${wallet.privateKey}\n`);
    await chmod(path, mode);
    return { dir, path, wallet };
  }

  it("loads a 0600 file, and refuses a group-readable one with the chmod to run, never echoing the key", async () => {
    const ok = await keyFile(0o600);
    expect((await loadWallet({ file: ok.path })).wallet.address).toBe(ok.wallet.address);
    const loose = await keyFile(0o640);
    const err = (await loadWallet({ file: loose.path }).catch((e: unknown) => e)) as Error;
    expect(err.message).toContain(`chmod 600 ${loose.path}`);
    expect(err.message).not.toContain(loose.wallet.privateKey.slice(2, 20));
  });

  it("accepts a systemd credential (LoadCredential=) whatever its mode bits: the unit alone can read it", async () => {
    const cred = await keyFile(0o440, "credentials");
    process.env.CREDENTIALS_DIRECTORY = join(cred.dir, "credentials");
    expect((await loadWallet({ file: cred.path })).wallet.address).toBe(cred.wallet.address);
    const outside = await keyFile(0o440);
    await expect(loadWallet({ file: outside.path })).rejects.toThrow("chmod 600");
  });
});

describe("loadWallet from the environment, the flag or the config file", () => {
  it("gives the address ethers gives, and refuses a key off the curve or not hex without echoing it", async () => {
    const wallet = Wallet.createRandom();
    const loaded = await loadWallet({ key: { value: wallet.privateKey.slice(2), from: "env" } });
    expect(loaded.wallet.address).toBe(wallet.address);
    expect(loaded.source).toBe("env");

    const order = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
    for (const bad of ["0".repeat(64), order]) {
      await expect(loadWallet({ key: { value: bad, from: "flag" } })).rejects.toThrow("-private-key does not hold a valid secp256k1 private key");
    }
    const typo = `${wallet.privateKey.slice(2, 60)}zz`;
    const err = (await loadWallet({ key: { value: typo, from: "file" } }).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe("private-key in the config file does not hold a private key: expected 64 hex digits, optionally prefixed with 0x");
  });
});
