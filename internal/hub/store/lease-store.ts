import type { Kysely } from "kysely";
import type { Database } from "./schema.js";

export interface LeaseState {
  holder: string;
  expiresAtMs: number;
}

/** Named leases in the hub's database: at most one holder each, until it expires unless renewed. */
export interface LeaseStore {
  /**
   * Takes the lease, or renews it for its holder, when it is free, expired, or already ours; says who
   * holds it afterwards. `force` takes it from another holder (one known to be dead).
   */
  take(name: string, holder: string, ttlMs: number, nowMs: number, force?: boolean): Promise<LeaseState>;
  release(name: string, holder: string): Promise<void>;
}

export class KyselyLeaseStore implements LeaseStore {
  constructor(private readonly db: Kysely<Database>) {}

  async take(name: string, holder: string, ttlMs: number, nowMs: number, force = false): Promise<LeaseState> {
    // One statement: two hubs racing for a free lease cannot both get it.
    await this.db
      .insertInto("leases")
      .values({ name, holder, expires_at_ms: nowMs + ttlMs })
      .onConflict((oc) => {
        const update = oc.column("name").doUpdateSet({ holder, expires_at_ms: nowMs + ttlMs });
        return force ? update : update.where((eb) => eb.or([eb("leases.holder", "=", holder), eb("leases.expires_at_ms", "<", nowMs)]));
      })
      .execute();
    const row = await this.db.selectFrom("leases").select(["holder", "expires_at_ms"]).where("name", "=", name).executeTakeFirstOrThrow();
    return { holder: row.holder, expiresAtMs: Number(row.expires_at_ms) };
  }

  async release(name: string, holder: string): Promise<void> {
    await this.db.deleteFrom("leases").where("name", "=", name).where("holder", "=", holder).execute();
  }
}
