import type { Logger } from "pino";
import type { SessionTokens } from "../../auth/session-tokens.js";
import type { SessionStore } from "../store/session-store.js";
import { PollLoop } from "../../util/poll-loop.js";

/**
 * Sign-outs for every hub: a token signed out here is refused here at once, written to the store,
 * and refused by the other hubs (and by this one after a restart) within a refresh.
 */
export class SessionSignOuts {
  private readonly loop: PollLoop;

  constructor(
    opts: { refreshMs: number },
    private readonly deps: { tokens: SessionTokens; store: SessionStore; logger: Logger },
  ) {
    this.loop = new PollLoop({ intervalMs: opts.refreshMs, maxBackoffMs: 60_000 }, async () => (await this.load(), false), (err) =>
      deps.logger.warn({ err: (err as Error).message }, "could not read sign-outs; trying again"),
    );
  }

  /** Reads the sign-outs in force, then keeps reading them. */
  async start(): Promise<void> {
    await this.load();
    this.loop.start();
  }

  async signOut(token: string): Promise<void> {
    const revoked = this.deps.tokens.revoke(token);
    if (revoked) await this.deps.store.revoke(revoked);
  }

  close(): Promise<void> {
    return this.loop.close();
  }

  private async load(): Promise<void> {
    for (const r of await this.deps.store.revocations(Date.now())) this.deps.tokens.revokeId(r);
  }
}
