import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import type { AccessStore, Ban, BanKind, Revocation } from "../store/access-store.js";

export interface AccessControlOptions {
  /** How often the operator's bans and revocations are read again (the CLI writes them to the store). */
  refreshMs: number;
}

/** Who may not be served, as last read from the store; checked in memory on every stream, renewal and sign-in. */
export class AccessControl extends EventEmitter<{ changed: [] }> {
  private bans = new Map<string, Ban>();
  private revoked = new Map<string, Revocation>();
  private timer: NodeJS.Timeout | undefined;
  private signature = "";

  constructor(
    private readonly opts: AccessControlOptions,
    private readonly deps: { store: AccessStore; logger: Logger },
  ) {
    super();
  }

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh().catch((err: unknown) => this.deps.logger.error({ err }, "reading bans and revocations failed; keeping the last ones")), this.opts.refreshMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** Reads the store; emits "changed" when anything differs from what was in force. */
  async refresh(): Promise<void> {
    const [bans, revocations] = await Promise.all([this.deps.store.listBans(), this.deps.store.listRevocations()]);
    const signature = JSON.stringify([bans.map((b) => [b.kind, b.subject]), revocations.map((r) => r.serial)]);
    this.bans = new Map(bans.map((b) => [key(b.kind, b.subject), b]));
    this.revoked = new Map(revocations.map((r) => [r.serial, r]));
    if (signature === this.signature) return;
    const first = this.signature === "";
    this.signature = signature;
    if (!first) this.deps.logger.info({ bans: bans.length, revoked: revocations.length }, "bans and revocations changed");
    this.emit("changed");
  }

  walletBan(wallet: string): Ban | undefined {
    return this.bans.get(key("wallet", wallet.toLowerCase()));
  }

  /** Why a node may not connect or renew: its own ban, its wallet's, or the certificate it presents being revoked. */
  nodeRefusal(nodeId: string, wallet: string, serial?: string): { code: "node_banned" | "wallet_banned" | "certificate_revoked"; message: string } | undefined {
    const node = this.bans.get(key("node", nodeId));
    if (node) return { code: "node_banned", message: `node ${nodeId} is banned by the hub's operator: ${node.reason || "no reason given"}` };
    const byWallet = this.walletBan(wallet);
    if (byWallet) return { code: "wallet_banned", message: `wallet ${wallet} is banned by the hub's operator: ${byWallet.reason || "no reason given"}` };
    const revoked = serial ? this.revoked.get(serial.toLowerCase()) : undefined;
    if (revoked) return { code: "certificate_revoked", message: `certificate ${revoked.serial} was revoked by the hub's operator (${revoked.reason || "no reason given"}); sign in again for a new one` };
    return undefined;
  }

  bannedWallets(): string[] {
    return [...this.bans.values()].filter((b) => b.kind === "wallet").map((b) => b.subject);
  }
}

function key(kind: BanKind, subject: string): string {
  return `${kind}:${subject}`;
}
