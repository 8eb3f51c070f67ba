/**
 * Heartbeats as the hub absorbed them, read from its own store (a separate read-only
 * connection): the hub writes each node's latest heartbeat to last_heartbeats once per flush
 * (every 5 s). Every heartbeat a node sends raises its seq by one, so the rise of sum(seq)
 * between two flushes is the number of heartbeats the hub took in between them.
 */
import SQLite from "better-sqlite3";
import pg from "pg";

export interface SeqSum {
  rows: number;
  sum: number;
}

export interface HeartbeatReader {
  seqSum(): Promise<SeqSum>;
  /** received_at minus the node's sentAtUnixMs, ms, for each row received at or after `sinceMs`. */
  lags(sinceMs: number): Promise<number[]>;
  close(): Promise<void>;
}

interface Row {
  received_at: string;
  body_json: string;
}

function lagsOf(rows: Row[], sinceMs: number): number[] {
  const out: number[] = [];
  for (const r of rows) {
    const received = Date.parse(r.received_at);
    if (received < sinceMs) continue;
    const sent = (JSON.parse(r.body_json) as { sentAtUnixMs?: number }).sentAtUnixMs;
    if (typeof sent === "number" && sent > 0) out.push(received - sent);
  }
  return out;
}

export function sqliteReader(file: string): HeartbeatReader {
  const db = new SQLite(file, { readonly: true, fileMustExist: true });
  db.pragma("busy_timeout = 5000");
  const sumStmt = db.prepare("select count(*) as n, coalesce(sum(seq), 0) as s from last_heartbeats");
  const rowsStmt = db.prepare("select received_at, body_json from last_heartbeats");
  return {
    seqSum: async () => {
      const r = sumStmt.get() as { n: number; s: number };
      return { rows: r.n, sum: Number(r.s) };
    },
    lags: async (sinceMs) => lagsOf(rowsStmt.all() as Row[], sinceMs),
    close: async () => {
      db.close();
    },
  };
}

export async function postgresReader(url: string): Promise<HeartbeatReader> {
  const client = new pg.Client({ connectionString: url, application_name: "hub-load-bench" });
  client.on("error", () => undefined);
  await client.connect();
  return {
    seqSum: async () => {
      const r = await client.query<{ n: string; s: string }>("select count(*) as n, coalesce(sum(seq), 0) as s from last_heartbeats");
      return { rows: Number(r.rows[0]?.n ?? 0), sum: Number(r.rows[0]?.s ?? 0) };
    },
    lags: async (sinceMs) => lagsOf((await client.query<Row>("select received_at, body_json from last_heartbeats")).rows, sinceMs),
    close: async () => client.end(),
  };
}

/**
 * Watches sum(seq) every pollMs and keeps the moments it rose (the hub's flushes), with how many
 * heartbeats the fleet had sent by then: over the same span, stored/sent is the share the hub took in.
 */
export class FlushWatcher {
  private readonly flushes: Array<{ at: number; sum: number; sent: number }> = [];
  private last = -1;
  private timer?: NodeJS.Timeout;
  private busy = false;

  constructor(
    private readonly reader: HeartbeatReader,
    private readonly pollMs: number,
    private readonly sentNow: () => number,
  ) {}

  start(): void {
    const poll = async (): Promise<void> => {
      if (this.busy) return;
      this.busy = true;
      try {
        const { sum } = await this.reader.seqSum();
        if (sum !== this.last) {
          if (this.last >= 0) this.flushes.push({ at: performance.now(), sum, sent: this.sentNow() });
          this.last = sum;
        }
      } catch {
        // a busy database this time; the next poll reads again
      } finally {
        this.busy = false;
      }
    };
    void poll();
    this.timer = setInterval(() => void poll(), this.pollMs);
  }

  /** Resolves at the next flush seen, or after timeoutMs. */
  async nextFlush(timeoutMs: number): Promise<void> {
    const seen = this.flushes.length;
    const until = performance.now() + timeoutMs;
    while (this.flushes.length === seen && performance.now() < until) await new Promise((r) => setTimeout(r, this.pollMs / 2));
  }

  /** Between the first and the last flush seen: heartbeats stored per second, and stored / sent. */
  stop(): { perSecond: number; sentPerSecond: number; share: number; spanMs: number; flushes: number } {
    clearInterval(this.timer);
    const first = this.flushes[0];
    const last = this.flushes[this.flushes.length - 1];
    if (!first || !last || last.at - first.at < 1_000) return { perSecond: NaN, sentPerSecond: NaN, share: NaN, spanMs: 0, flushes: this.flushes.length };
    const stored = last.sum - first.sum;
    const sent = last.sent - first.sent;
    const spanMs = last.at - first.at;
    return { perSecond: (stored / spanMs) * 1000, sentPerSecond: (sent / spanMs) * 1000, share: stored / Math.max(1, sent), spanMs, flushes: this.flushes.length };
  }
}
