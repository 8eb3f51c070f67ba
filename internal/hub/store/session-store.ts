import type { Kysely } from "kysely";
import type { Revocation } from "../../auth/session-tokens.js";
import type { Database } from "./schema.js";

/** Sign-outs, for every hub on this database, until the tokens would have expired anyway. */
export interface SessionStore {
  revoke(r: Revocation): Promise<void>;
  /** The sign-outs still in force at `nowMs` (older ones are deleted on the way). */
  revocations(nowMs: number): Promise<Revocation[]>;
}

export class KyselySessionStore implements SessionStore {
  constructor(private readonly db: Kysely<Database>) {}

  async revoke(r: Revocation): Promise<void> {
    await this.db
      .insertInto("session_revocations")
      .values({ token_id: r.id, expires_at_ms: r.expiresAtMs })
      .onConflict((oc) => oc.column("token_id").doNothing())
      .execute();
  }

  async revocations(nowMs: number): Promise<Revocation[]> {
    await this.db.deleteFrom("session_revocations").where("expires_at_ms", "<=", nowMs).execute();
    const rows = await this.db.selectFrom("session_revocations").selectAll().execute();
    return rows.map((r) => ({ id: r.token_id, expiresAtMs: Number(r.expires_at_ms) }));
  }
}
