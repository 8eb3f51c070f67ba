import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { ApiError } from "../http/api-error.js";
import type { ClusterStore } from "../store/cluster-store.js";
import type { BusMessage } from "./bus-messages.js";

type Answer = { ok: unknown } | { error: { status: number; code: string; message: string } };

interface Waiter {
  to: string;
  done: () => void;
}

/**
 * Requests for the replica that owns a node, through the database: the body waits in node_requests,
 * a NOTIFY wakes the owner, it writes the answer beside the body and a NOTIFY wakes the asker. Bodies
 * and answers may be large (a rental's environment, a log tail): NOTIFY carries only ids. What the
 * owner throws comes back as itself when it is an ApiError (the caller's 404, 409, 504), else as a 502.
 */
export class OwnerRequests {
  private readonly waiting = new Map<string, Waiter>();
  private handler: ((body: unknown) => Promise<unknown>) | undefined;

  constructor(private readonly deps: { replicaId: string; store: ClusterStore; publish: (m: BusMessage) => void; logger: Logger }) {}

  /** What this replica answers with. */
  serve(handler: (body: unknown) => Promise<unknown>): void {
    this.handler = handler;
  }

  /** Asks `to` and waits for its answer (or throws what it threw), at most timeoutMs. */
  async ask(to: string, body: unknown, timeoutMs: number): Promise<unknown> {
    const id = randomUUID();
    await this.deps.store.putRequest({ id, fromReplica: this.deps.replicaId, body: JSON.stringify(body) }, Date.now());
    let timer: NodeJS.Timeout | undefined;
    try {
      const answered = new Promise<void>((resolve) => {
        this.waiting.set(id, { to, done: resolve });
        timer = setTimeout(resolve, timeoutMs);
      });
      this.deps.publish({ t: "req", id, to });
      await answered;
      // Read whatever happened: an answer whose NOTIFY was lost is still found here.
      const row = await this.deps.store.getRequest(id);
      if (!row?.answer) {
        throw new ApiError(503, "owner_unavailable", "the hub replica holding this node's stream did not answer in time; try again in a few seconds (the node is moving to another replica)");
      }
      return unwrap(JSON.parse(row.answer) as Answer);
    } finally {
      clearTimeout(timer);
      this.waiting.delete(id);
      await this.deps.store.deleteRequest(id).catch(() => undefined);
    }
  }

  /** A replica died: what waits on it is answered (by "did not answer") now rather than at its timeout. */
  replicaGone(replicaId: string): void {
    for (const w of this.waiting.values()) if (w.to === replicaId) w.done();
  }

  onMessage(m: BusMessage): void {
    if (m.t === "ans" && m.to === this.deps.replicaId) this.waiting.get(m.id)?.done();
    if (m.t === "req" && m.to === this.deps.replicaId) void this.answer(m.id);
  }

  private async answer(id: string): Promise<void> {
    try {
      const row = await this.deps.store.getRequest(id);
      if (!row || row.answer !== null || !this.handler) return;
      let answer: Answer;
      try {
        answer = { ok: (await this.handler(JSON.parse(row.body))) ?? null };
      } catch (err) {
        if (err instanceof ApiError) answer = { error: { status: err.status, code: err.code, message: err.message } };
        else {
          this.deps.logger.error({ err, requestId: id }, "a request from another replica failed");
          answer = { error: { status: 502, code: "owner_failed", message: "the hub replica holding this node's stream failed the request; see its log" } };
        }
      }
      await this.deps.store.answerRequest(id, JSON.stringify(answer));
      this.deps.publish({ t: "ans", id, to: row.fromReplica });
    } catch (err) {
      this.deps.logger.warn({ err: (err as Error).message, requestId: id }, "could not answer a request from another replica");
    }
  }
}

function unwrap(a: Answer): unknown {
  if ("ok" in a) return a.ok;
  throw new ApiError(a.error.status, a.error.code, a.error.message);
}
