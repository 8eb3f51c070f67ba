import type { Kysely } from "kysely";
import type { Database } from "./schema.js";

/** What an operator can shut out: a wallet (all its nodes and its renter sessions), or one node. */
export type BanKind = "wallet" | "node";

export interface Ban {
  kind: BanKind;
  /** A lowercase 0x address, or a node id. */
  subject: string;
  reason: string;
  createdAt: Date;
}

export interface Revocation {
  serial: string;
  nodeId: string;
  reason: string;
  revokedAt: Date;
}

/** The operator's bans and certificate revocations: every replica reads them, the CLI writes them. */
export interface AccessStore {
  /** Adds the ban, or replaces its reason. */
  ban(b: Ban): Promise<void>;
  /** False when there was no such ban. */
  unban(kind: BanKind, subject: string): Promise<boolean>;
  listBans(): Promise<Ban[]>;
  /** Undefined when the hub never issued that serial; revoking twice keeps the first. */
  revoke(serial: string, reason: string, at: Date): Promise<Revocation | undefined>;
  listRevocations(): Promise<Revocation[]>;
}

export class KyselyAccessStore implements AccessStore {
  constructor(private readonly db: Kysely<Database>) {}

  async ban(b: Ban): Promise<void> {
    const row = { kind: b.kind, subject: b.subject, reason: b.reason, created_at: b.createdAt.toISOString() };
    await this.db
      .insertInto("bans")
      .values(row)
      .onConflict((oc) => oc.columns(["kind", "subject"]).doUpdateSet({ reason: b.reason }))
      .execute();
  }

  async unban(kind: BanKind, subject: string): Promise<boolean> {
    const res = await this.db.deleteFrom("bans").where("kind", "=", kind).where("subject", "=", subject).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  async listBans(): Promise<Ban[]> {
    const rows = await this.db.selectFrom("bans").selectAll().orderBy("created_at").execute();
    return rows.map((r) => ({ kind: r.kind as BanKind, subject: r.subject, reason: r.reason, createdAt: new Date(r.created_at) }));
  }

  async revoke(serial: string, reason: string, at: Date): Promise<Revocation | undefined> {
    const cert = await this.db.selectFrom("certificates").select(["serial", "node_id"]).where("serial", "=", serial).executeTakeFirst();
    if (!cert) return undefined;
    await this.db
      .insertInto("revocations")
      .values({ serial, reason, revoked_at: at.toISOString() })
      .onConflict((oc) => oc.column("serial").doNothing())
      .execute();
    const row = await this.db.selectFrom("revocations").selectAll().where("serial", "=", serial).executeTakeFirstOrThrow();
    return { serial, nodeId: cert.node_id, reason: row.reason, revokedAt: new Date(row.revoked_at) };
  }

  async listRevocations(): Promise<Revocation[]> {
    const rows = await this.db
      .selectFrom("revocations")
      .innerJoin("certificates", "certificates.serial", "revocations.serial")
      .select(["revocations.serial", "certificates.node_id", "revocations.reason", "revocations.revoked_at"])
      .orderBy("revocations.revoked_at")
      .execute();
    return rows.map((r) => ({ serial: r.serial, nodeId: r.node_id, reason: r.reason, revokedAt: new Date(r.revoked_at) }));
  }
}
