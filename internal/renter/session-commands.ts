import { resolve } from "node:path";
import type { Command } from "commander";
import { HubApi, fetchHubCa } from "./hub-api.js";
import { action } from "./action.js";
import { chooseHub, findHubs } from "../discovery/hub-finder.js";
import { SessionStore } from "./session-store.js";
import { loadRenterWallet } from "./wallet-source.js";

interface LoginOptions {
  hubHttp: string;
  hubCaFingerprint?: string;
  keyFile?: string;
  keystore?: string;
}

export function addSessionCommands(program: Command): void {
  program
    .command("login")
    .description("sign in to the hub with your wallet (EIP-4361) and keep the session in your config folder (0600)")
    .requiredOption("--hub-http <url>", "the hub's HTTPS address, e.g. https://hub.example.com:8080, or auto: the hub announced on the LAN (rental-hub -announce)")
    .option("--hub-ca-fingerprint <sha256:hex>", "pin the hub's CA (the hub prints it at start); without it the CA is trusted on first use and the CLI says so")
    .option("--key-file <path>", "a file (mode 0600) holding the wallet's private key")
    .option("--keystore <path>", "an ethers/geth encrypted JSON keystore; its password is asked (or read from $GPU_RENT_KEYSTORE_PASSWORD)")
    .addHelpText("after", "\nExamples:\n  gpu-rent login --hub-http https://hub.example.com:8080 --key-file ~/.config/gpu-rent/wallet.key\n  GPU_RENT_PRIVATE_KEY=0x... gpu-rent login --hub-http https://hub.example.com:8080 --hub-ca-fingerprint sha256:...\n  gpu-rent login --hub-http auto --key-file wallet.key   # the hub on this LAN")
    .action(
      action<LoginOptions>(async ({ out, opts: o }) => {
        const found = o.hubHttp === "auto" ? chooseHub(await findHubs({ timeoutMs: 5_000 }), o.hubCaFingerprint) : undefined;
        const hubHttp = found ? `${found.scheme}://${found.address.includes(":") ? `[${found.address}]` : found.address}:${found.httpPort}` : o.hubHttp.replace(/\/+$/, "");
        if (found) out.err(`found the hub ${found.name} at ${hubHttp}${o.hubCaFingerprint ? "" : `; pinned the CA it announced, ${found.caFingerprint}`}`);
        const wallet = await loadRenterWallet(o);
        const ca = await fetchHubCa(hubHttp, o.hubCaFingerprint ?? found?.caFingerprint);
        if (!o.hubCaFingerprint && !found) out.err(`trusting the hub's CA ${ca.fingerprint} on first use: compare it with the one the hub printed, and pin it with --hub-ca-fingerprint`);
        const api = new HubApi({ baseUrl: hubHttp, ca: ca.caCertPem });
        const signed = await api.signIn(wallet);
        // Amounts are shown in the hub's currency: read once here, kept with the session.
        const chain = await api.call<{ payments: boolean; currency?: { symbol: string; decimals: number } | null }>("GET", "/v1/chain").catch(() => undefined);
        const currency = chain?.payments && chain.currency ? { currency: { symbol: chain.currency.symbol, decimals: chain.currency.decimals } } : {};
        const store = new SessionStore();
        await store.save({ hubHttp, caCertPem: ca.caCertPem, caFingerprint: ca.fingerprint, address: signed.address, token: signed.token, expiresAt: signed.expiresAt, ...(o.keyFile ? { keyFile: resolve(o.keyFile) } : {}), ...(o.keystore ? { keystore: resolve(o.keystore) } : {}), ...currency });
        if (out.json) out.out(JSON.stringify({ address: signed.address, hub: hubHttp, expiresAt: signed.expiresAt, caFingerprint: ca.fingerprint }));
        else out.out(`signed in to ${hubHttp} as ${signed.address} until ${signed.expiresAt}`);
      }),
    );
  program
    .command("logout")
    .description("end the session at the hub and forget it here")
    .action(
      action(async ({ out }) => {
        const store = new SessionStore();
        const s = await store.load();
        if (s) await HubApi.of(s).call("POST", "/v1/auth/signout").catch(() => undefined); // an expired session is over anyway
        await store.remove();
        if (out.json) out.out(JSON.stringify({ loggedOut: s?.address ?? null }));
        else out.out(s ? `signed out ${s.address}` : "no session to end");
      }),
    );
}
