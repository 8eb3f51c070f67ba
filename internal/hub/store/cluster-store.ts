import { type Kysely, sql } from "kysely";
import type { Database } from "./schema.js";

/** Who runs a node's rentals, and whether the node's stream is open there. */
export interface NodeOwner {
  nodeId: string;
  replicaId: string;
  connected: boolean;
  draining: boolean;
}

/** A request for a node's owner, made on another replica: the owner writes its answer beside it. */
export interface NodeRequestRow {
  id: string;
  fromReplica: string;
  body: string;
  answer: string | null;
}

/** Replicas of one hub on one PostgreSQL: who is alive, who owns which node, and requests between them. */
export interface ClusterStore {
  /** Registers or renews a replica until expiresAtMs. */
  renewReplica(id: string, startedAtMs: number, expiresAtMs: number): Promise<void>;
  removeReplica(id: string): Promise<void>;
  /** Replicas whose lease runs at nowMs. */
  liveReplicas(nowMs: number): Promise<string[]>;
  /** The stream of a node is here now: the latest stream wins, wherever the last one was. */
  claimNode(owner: NodeOwner): Promise<void>;
  /** Updates the link of a node this replica still owns; false when another replica owns it now. */
  updateLink(owner: NodeOwner): Promise<boolean>;
  /** Nodes whose owner is no longer alive become `replicaId`'s; returns them. */
  adoptOrphans(replicaId: string, nowMs: number): Promise<string[]>;
  /** Nodes with no owner at all become `replicaId`'s (a node with rentals that never connected to a replica). */
  adoptUnowned(replicaId: string, nodeIds: string[]): Promise<string[]>;
  owners(): Promise<NodeOwner[]>;
  /** The node's owner, when that replica's lease runs at nowMs. */
  liveOwner(nodeId: string, nowMs: number): Promise<string | undefined>;
  putRequest(row: Omit<NodeRequestRow, "answer">, nowMs: number): Promise<void>;
  getRequest(id: string): Promise<NodeRequestRow | undefined>;
  answerRequest(id: string, answer: string): Promise<void>;
  deleteRequest(id: string): Promise<void>;
  /** Requests older than this are abandoned (their asker gave up): removed. */
  deleteRequestsBefore(nowMs: number): Promise<void>;
  /** PostgreSQL's NOTIFY on `channel`. */
  notify(channel: string, payload: string): Promise<void>;
}

export class KyselyClusterStore implements ClusterStore {
  constructor(private readonly db: Kysely<Database>) {}

  async renewReplica(id: string, startedAtMs: number, expiresAtMs: number): Promise<void> {
    await this.db
      .insertInto("hub_replicas")
      .values({ id, started_at_ms: startedAtMs, expires_at_ms: expiresAtMs })
      .onConflict((oc) => oc.column("id").doUpdateSet({ expires_at_ms: expiresAtMs }))
      .execute();
  }

  async removeReplica(id: string): Promise<void> {
    await this.db.deleteFrom("hub_replicas").where("id", "=", id).execute();
  }

  async liveReplicas(nowMs: number): Promise<string[]> {
    const rows = await this.db.selectFrom("hub_replicas").select("id").where("expires_at_ms", ">=", nowMs).execute();
    return rows.map((r) => r.id);
  }

  async claimNode(o: NodeOwner): Promise<void> {
    const row = { node_id: o.nodeId, replica_id: o.replicaId, connected: o.connected ? 1 : 0, draining: o.draining ? 1 : 0 };
    await this.db
      .insertInto("node_owners")
      .values(row)
      .onConflict((oc) => oc.column("node_id").doUpdateSet({ replica_id: row.replica_id, connected: row.connected, draining: row.draining }))
      .execute();
  }

  async updateLink(o: NodeOwner): Promise<boolean> {
    const res = await this.db
      .updateTable("node_owners")
      .set({ connected: o.connected ? 1 : 0, draining: o.draining ? 1 : 0 })
      .where("node_id", "=", o.nodeId)
      .where("replica_id", "=", o.replicaId)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async adoptOrphans(replicaId: string, nowMs: number): Promise<string[]> {
    // One statement: two replicas adopting at once split the orphans, never share one.
    const rows = await this.db
      .updateTable("node_owners")
      .set({ replica_id: replicaId, connected: 0 })
      .where("replica_id", "not in", (eb) => eb.selectFrom("hub_replicas").select("id").where("expires_at_ms", ">=", nowMs))
      .returning("node_id")
      .execute();
    await this.db.deleteFrom("hub_replicas").where("expires_at_ms", "<", nowMs).execute();
    return rows.map((r) => r.node_id);
  }

  async adoptUnowned(replicaId: string, nodeIds: string[]): Promise<string[]> {
    if (nodeIds.length === 0) return [];
    const rows = await this.db
      .insertInto("node_owners")
      .values(nodeIds.map((node_id) => ({ node_id, replica_id: replicaId, connected: 0, draining: 0 })))
      .onConflict((oc) => oc.column("node_id").doNothing())
      .returning("node_id")
      .execute();
    return rows.map((r) => r.node_id);
  }

  async owners(): Promise<NodeOwner[]> {
    return (await this.db.selectFrom("node_owners").selectAll().execute()).map(ownerOf);
  }

  async liveOwner(nodeId: string, nowMs: number): Promise<string | undefined> {
    const row = await this.db
      .selectFrom("node_owners")
      .innerJoin("hub_replicas", "hub_replicas.id", "node_owners.replica_id")
      .select("node_owners.replica_id")
      .where("node_owners.node_id", "=", nodeId)
      .where("hub_replicas.expires_at_ms", ">=", nowMs)
      .executeTakeFirst();
    return row?.replica_id;
  }

  async putRequest(row: Omit<NodeRequestRow, "answer">, nowMs: number): Promise<void> {
    await this.db.insertInto("node_requests").values({ id: row.id, from_replica: row.fromReplica, body: row.body, answer: null, created_at_ms: nowMs }).execute();
  }

  async getRequest(id: string): Promise<NodeRequestRow | undefined> {
    const row = await this.db.selectFrom("node_requests").select(["id", "from_replica", "body", "answer"]).where("id", "=", id).executeTakeFirst();
    return row && { id: row.id, fromReplica: row.from_replica, body: row.body, answer: row.answer };
  }

  async answerRequest(id: string, answer: string): Promise<void> {
    await this.db.updateTable("node_requests").set({ answer }).where("id", "=", id).execute();
  }

  async deleteRequest(id: string): Promise<void> {
    await this.db.deleteFrom("node_requests").where("id", "=", id).execute();
  }

  async deleteRequestsBefore(nowMs: number): Promise<void> {
    await this.db.deleteFrom("node_requests").where("created_at_ms", "<", nowMs).execute();
  }

  async notify(channel: string, payload: string): Promise<void> {
    await sql`select pg_notify(${channel}, ${payload})`.execute(this.db);
  }
}

function ownerOf(row: { node_id: string; replica_id: string; connected: number; draining: number }): NodeOwner {
  return { nodeId: row.node_id, replicaId: row.replica_id, connected: row.connected === 1, draining: row.draining === 1 };
}
