import type { Kysely } from "kysely";
import { type AccessStore, KyselyAccessStore } from "./access-store.js";
import { KyselyLeaseStore, type LeaseStore } from "./lease-store.js";
import { KyselyPaymentStore, type PaymentStore } from "./payment-store.js";
import { KyselySessionStore, type SessionStore } from "./session-store.js";
import { type ClusterStore, KyselyClusterStore } from "./cluster-store.js";
import { KyselyRentalStore, type RentalStore } from "./rental-store.js";
import type { Database } from "./schema.js";
import type { HeartbeatRecord, HubStore, IssuedCertificate, NodeDescription, NodeRecord } from "./hub-store.js";

/** The HubStore over any Kysely dialect; engines differ only in how the Kysely is built. */
export class KyselyHubStore implements HubStore {
  readonly rentals: RentalStore;
  readonly access: AccessStore;
  readonly payments: PaymentStore;
  readonly leases: LeaseStore;
  readonly sessions: SessionStore;
  readonly cluster: ClusterStore;

  constructor(private readonly db: Kysely<Database>) {
    this.rentals = new KyselyRentalStore(db);
    this.access = new KyselyAccessStore(db);
    this.payments = new KyselyPaymentStore(db);
    this.leases = new KyselyLeaseStore(db);
    this.sessions = new KyselySessionStore(db);
    this.cluster = new KyselyClusterStore(db);
  }

  async upsertNode(node: NodeRecord): Promise<void> {
    const row = toRow(node);
    await this.db
      .insertInto("nodes")
      .values(row)
      .onConflict((oc) => oc.column("id").doUpdateSet({ ...row, registered_at: undefined }))
      .execute();
  }

  async getNode(id: string): Promise<NodeRecord | undefined> {
    const row = await this.db.selectFrom("nodes").selectAll().where("id", "=", id).executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  async findNodeByMachine(wallet: string, machineId: string): Promise<NodeRecord | undefined> {
    const row = await this.db
      .selectFrom("nodes")
      .selectAll()
      .where("wallet", "=", wallet)
      .where("machine_id", "=", machineId)
      .executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  async listNodes(): Promise<NodeRecord[]> {
    const rows = await this.db.selectFrom("nodes").selectAll().orderBy("registered_at").orderBy("id").execute();
    return rows.map(fromRow);
  }

  async updateNodeDescription(id: string, desc: NodeDescription, at: Date): Promise<void> {
    await this.db
      .updateTable("nodes")
      .set({ ...describe(desc), updated_at: at.toISOString() })
      .where("id", "=", id)
      .execute();
  }

  async recordCertificate(cert: IssuedCertificate): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx
        .insertInto("certificates")
        .values({
          serial: cert.serial,
          node_id: cert.nodeId,
          not_after: cert.notAfter.toISOString(),
          issued_at: cert.issuedAt.toISOString(),
          reason: cert.reason,
        })
        .execute();
      await tx
        .updateTable("nodes")
        .set({ cert_serial: cert.serial, cert_not_after: cert.notAfter.toISOString() })
        .where("id", "=", cert.nodeId)
        .execute();
    });
  }

  async listCertificates(nodeId: string): Promise<IssuedCertificate[]> {
    const rows = await this.db.selectFrom("certificates").selectAll().where("node_id", "=", nodeId).orderBy("issued_at").orderBy("serial").execute();
    return rows.map((r) => ({
      serial: r.serial,
      nodeId: r.node_id,
      notAfter: new Date(r.not_after),
      issuedAt: new Date(r.issued_at),
      reason: r.reason as IssuedCertificate["reason"],
    }));
  }

  async saveHeartbeats(batch: HeartbeatRecord[]): Promise<void> {
    if (batch.length === 0) return;
    await this.db.transaction().execute(async (tx) => {
      for (const hb of batch) {
        const row = { node_id: hb.nodeId, seq: hb.seq, received_at: hb.receivedAt.toISOString(), body_json: JSON.stringify(hb.body) };
        await tx
          .insertInto("last_heartbeats")
          .values(row)
          .onConflict((oc) => oc.column("node_id").doUpdateSet(row))
          .execute();
      }
    });
  }

  async lastHeartbeats(): Promise<HeartbeatRecord[]> {
    const rows = await this.db.selectFrom("last_heartbeats").selectAll().execute();
    // Number(): PostgreSQL returns bigint as a string; a seq the node sent as a number fits exactly.
    return rows.map((r) => ({ nodeId: r.node_id, seq: Number(r.seq), receivedAt: new Date(r.received_at), body: JSON.parse(r.body_json) as unknown }));
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}

function describe(desc: NodeDescription) {
  return {
    host: desc.host,
    api_port: desc.apiPort,
    price_per_sec_wei: desc.pricePerSecWei,
    gpus_json: JSON.stringify(desc.gpus),
    versions_json: JSON.stringify(desc.versions),
    notices_json: JSON.stringify(desc.notices),
  };
}

function toRow(n: NodeRecord): Database["nodes"] {
  return {
    id: n.id,
    wallet: n.wallet,
    machine_id: n.machineId,
    ...describe(n),
    registered_at: n.registeredAt.toISOString(),
    updated_at: n.updatedAt.toISOString(),
    cert_serial: n.certSerial,
    cert_not_after: n.certNotAfter.toISOString(),
  };
}

function fromRow(r: Database["nodes"]): NodeRecord {
  return {
    id: r.id,
    wallet: r.wallet,
    machineId: r.machine_id,
    host: r.host,
    apiPort: r.api_port,
    pricePerSecWei: r.price_per_sec_wei,
    gpus: JSON.parse(r.gpus_json) as NodeRecord["gpus"],
    versions: JSON.parse(r.versions_json) as NodeRecord["versions"],
    notices: JSON.parse(r.notices_json) as string[],
    registeredAt: new Date(r.registered_at),
    updatedAt: new Date(r.updated_at),
    certSerial: r.cert_serial,
    certNotAfter: new Date(r.cert_not_after),
  };
}
