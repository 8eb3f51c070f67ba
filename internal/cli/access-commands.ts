import type { Command } from "commander";
import { isAddress } from "ethers";
import type { BanKind } from "../hub/store/access-store.js";
import type { HubStore } from "../hub/store/hub-store.js";

const stdio = { out: (t: string) => void process.stdout.write(t), err: (t: string) => void process.stderr.write(t) };
const TAKES_EFFECT = "running hubs on this database act on it within seconds";

interface Target {
  wallet?: string;
  node?: string;
  reason?: string;
}

/**
 * `rental-hub ban|unban|revoke-cert|access`: the operator's word on who is shut out, written to the
 * hub's store (the same -data-dir / -database-url as the hub), where every running hub reads it.
 */
export function addAccessCommands(program: Command, openStore: () => Promise<HubStore>): Command {
  const withStore = async (work: (store: HubStore) => Promise<number>): Promise<void> => {
    const store = await openStore();
    try {
      process.exitCode = await work(store);
    } finally {
      await store.close();
    }
  };
  const target = (o: Target): { kind: BanKind; subject: string } | undefined => {
    if ((o.wallet === undefined) === (o.node === undefined)) return usage("name exactly one of --wallet ADDRESS or --node NODE_ID");
    if (o.wallet !== undefined && !isAddress(o.wallet)) return usage(`--wallet ${JSON.stringify(o.wallet)} is not an Ethereum address (0x and 40 hex digits)`);
    return o.wallet !== undefined ? { kind: "wallet", subject: o.wallet.toLowerCase() } : { kind: "node", subject: o.node ?? "" };
  };

  program
    .command("ban")
    .description("shut a wallet (its nodes and its renter sessions) or one node out of this hub")
    .option("--wallet <address>", "the wallet to ban")
    .option("--node <id>", "the node to ban")
    .option("--reason <text>", "why; shown to the banned party", "")
    .addHelpText("after", "\nExamples:\n  rental-hub ban --node 3f2c... --reason 'sold GPUs it does not have'\n  rental-hub ban --wallet 0xAbC... -database-url-file /etc/rental-hub/database-url")
    .action(async (o: Target) => {
      const t = target(o);
      if (!t) return;
      await withStore(async (store) => {
        await store.access.ban({ ...t, reason: o.reason ?? "", createdAt: new Date() });
        stdio.out(`banned ${t.kind} ${t.subject}; ${TAKES_EFFECT}\n`);
        return 0;
      });
    });
  program
    .command("unban")
    .description("lift a ban")
    .option("--wallet <address>", "the wallet")
    .option("--node <id>", "the node")
    .action(async (o: Target) => {
      const t = target(o);
      if (!t) return;
      await withStore(async (store) => {
        if (await store.access.unban(t.kind, t.subject)) return stdio.out(`lifted the ban on ${t.kind} ${t.subject}\n`), 0;
        return stdio.err(`${t.kind} ${t.subject} is not banned\n`), 1;
      });
    });
  program
    .command("revoke-cert")
    .description("revoke a node certificate by serial (rental-hub access or GET /v1/nodes/ID lists them): streams and renewals presenting it are refused; the node signs in again for a new one")
    .argument("<serial>", "hex serial")
    .option("--reason <text>", "why", "")
    .action(async (serial: string, o: { reason?: string }) => {
      await withStore(async (store) => {
        const r = await store.access.revoke(serial.toLowerCase(), o.reason ?? "", new Date());
        if (!r) return stdio.err(`no certificate with serial ${serial} was issued by this hub\n`), 1;
        return stdio.out(`revoked certificate ${r.serial} of node ${r.nodeId}; ${TAKES_EFFECT}\n`), 0;
      });
    });
  program
    .command("access")
    .description("list bans and revoked certificates")
    .option("--json", "as one JSON document")
    .action(async (o: { json?: boolean }) => {
      await withStore(async (store) => {
        const [bans, revoked] = await Promise.all([store.access.listBans(), store.access.listRevocations()]);
        if (o.json) return stdio.out(`${JSON.stringify({ bans, revoked }, null, 2)}\n`), 0;
        for (const b of bans) stdio.out(`banned   ${b.kind.padEnd(6)} ${b.subject}  since ${b.createdAt.toISOString()}  ${b.reason}\n`);
        for (const r of revoked) stdio.out(`revoked  cert   ${r.serial}  node ${r.nodeId}  since ${r.revokedAt.toISOString()}  ${r.reason}\n`);
        if (bans.length + revoked.length === 0) stdio.out("no bans, no revoked certificates\n");
        return 0;
      });
    });
  return program;
}

/** A rental-hub command used wrongly: says why and exits 2, like a bad flag. */
export function usage(message: string): undefined {
  stdio.err(`rental-hub: ${message}\n`);
  process.exitCode = 2;
  return undefined;
}
