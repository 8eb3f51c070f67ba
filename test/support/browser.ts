import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getBytes, type BaseWallet } from "ethers";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

/** Debian's Chromium; tests never download a browser (the machines have no internet). */
export const CHROMIUM_PATH = "/usr/bin/chromium";
export const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

export interface TestBrowser {
  browser: Browser;
  /** Trusts any certificate: the hub's CA is private to the test. */
  context: BrowserContext;
  close(): Promise<void>;
}

/** Why the browser tests cannot run here, or undefined when they can. */
export function chromiumMissing(): string | undefined {
  if (existsSync(CHROMIUM_PATH)) return undefined;
  return `${CHROMIUM_PATH} not found: install Debian's chromium (apt-get install -y chromium), as .ci/run does; never "npx playwright install"`;
}

/**
 * Starts Debian's Chromium through playwright-core. Each launch gets a fresh, temporary user-data-dir
 * (Playwright makes one per launch and deletes it at close), and a temporary home for what Chromium
 * and GTK write outside it (crash-report settings, dconf): nothing carries over between runs, and
 * nothing is left outside tmp.
 * Missing Chromium is a failure, not a skip: the dashboard must be tested in a real browser
 * (see chromiumMissing).
 */
export async function launchChromium(): Promise<TestBrowser> {
  const missing = chromiumMissing();
  if (missing) throw new Error(missing);
  const home = await mkdtemp(join(tmpdir(), "chromium-home-"));
  const removeHome = (): Promise<void> => rm(home, { recursive: true, force: true });
  const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, ".config"), XDG_CACHE_HOME: join(home, ".cache") };
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, env }).catch(async (err: unknown) => {
    await removeHome();
    throw err;
  });
  const close = async (): Promise<void> => {
    await browser.close();
    await removeHome();
  };
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1440, height: 900 } });
    return { browser, context, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export interface TestWallet {
  /** Every message the page asked the wallet to sign, as text. */
  signed: string[];
  /** Every transaction the page asked the wallet to send (eth_sendTransaction's parameter). */
  sent: WalletTransaction[];
}

/** eth_sendTransaction's parameter as a page passes it: hex quantities, as EIP-1193 wallets take them. */
export interface WalletTransaction {
  from: string;
  to: string;
  value?: string;
  data?: string;
}

export interface TestWalletOptions {
  /** What eth_chainId answers (1 unless given). */
  chainId?: number;
  /** Answers eth_sendTransaction with the transaction's hash; absent, the wallet refuses it (4200). */
  sendTransaction?: (tx: WalletTransaction) => Promise<string>;
}

/**
 * A test EIP-1193 provider as `window.ethereum`: it shares one account (lower-case, as many wallets
 * do) and answers `personal_sign` with a real signature made in Node by the ethers wallet, and
 * `eth_sendTransaction` through `opts.sendTransaction` when given. Its init script applies to the
 * page's whole browser context: give each wallet a context of its own. Call before the page's
 * first navigation.
 */
export async function injectTestWallet(page: Page, wallet: BaseWallet, opts: TestWalletOptions = {}): Promise<TestWallet> {
  const signed: string[] = [];
  const sent: WalletTransaction[] = [];
  const send = opts.sendTransaction;
  if (send) {
    await page.exposeFunction("__testWalletSendTransaction", async (tx: WalletTransaction): Promise<string> => {
      if (tx.from?.toLowerCase() !== wallet.address.toLowerCase()) throw new Error(`eth_sendTransaction from ${tx.from}, but the test wallet is ${wallet.address}`);
      sent.push(tx);
      return send(tx);
    });
  }
  await page.exposeFunction("__testWalletPersonalSign", async (messageHex: string, address: string): Promise<string> => {
    if (address.toLowerCase() !== wallet.address.toLowerCase()) throw new Error(`personal_sign for ${address}, but the test wallet is ${wallet.address}`);
    const bytes = getBytes(messageHex);
    signed.push(new TextDecoder().decode(bytes));
    return wallet.signMessage(bytes);
  });
  await page.context().addInitScript(
    ({ account, chainIdHex, canSend }) => {
      type Request = { method: string; params?: unknown[] };
      const g = globalThis as unknown as {
        ethereum?: unknown;
        __testWalletPersonalSign: (hex: string, address: string) => Promise<string>;
        __testWalletSendTransaction: (tx: unknown) => Promise<string>;
      };
      g.ethereum = {
        isTestWallet: true,
        request: async ({ method, params = [] }: Request): Promise<unknown> => {
          switch (method) {
            case "eth_requestAccounts":
            case "eth_accounts":
              return [account];
            case "eth_chainId":
              return chainIdHex;
            case "personal_sign":
              return g.__testWalletPersonalSign(String(params[0]), String(params[1]));
            case "eth_sendTransaction":
              if (canSend) return g.__testWalletSendTransaction(params[0]);
              throw Object.assign(new Error("the test wallet sends no transactions"), { code: 4200 });
            default:
              throw Object.assign(new Error(`the test wallet does not support ${method}`), { code: 4200 });
          }
        },
      };
    },
    { account: wallet.address.toLowerCase(), chainIdHex: `0x${(opts.chainId ?? 1).toString(16)}`, canSend: send !== undefined },
  );
  return { signed, sent };
}
