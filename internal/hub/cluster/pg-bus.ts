import { EventEmitter } from "node:events";
import pg from "pg";
import type { Logger } from "pino";
import type { ClusterStore } from "../store/cluster-store.js";
import type { BusMessage } from "./bus-messages.js";

/** NOTIFY payloads must stay under 8000 bytes; messages are packed into envelopes below this. */
const MAX_ENVELOPE_BYTES = 7_000;
/** Messages published within this long go out in one NOTIFY: a fleet's heartbeats cost a few per second. */
const BATCH_MS = 10;
const RECONNECT_MS = 1_000;

interface Envelope {
  from: string;
  m: BusMessage[];
}

/**
 * The replicas' one broadcast channel: PostgreSQL LISTEN/NOTIFY on a channel named after the hub's CA,
 * so hubs of other CAs on the same server (or tests in other schemas) never hear each other. A NOTIFY
 * is delivered to every listening session after its transaction commits, in commit order. A lost
 * listening connection is re-made, and "reset" tells subscribers to read the state again: what was
 * said while it was down is gone.
 */
export class PgBus extends EventEmitter<{ message: [from: string, message: BusMessage]; reset: [] }> {
  private client: pg.Client | undefined;
  private queue: BusMessage[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private sending: Promise<void> = Promise.resolve();

  constructor(
    private readonly opts: { databaseUrl: string; channel: string; replicaId: string },
    private readonly deps: { store: ClusterStore; logger: Logger },
  ) {
    super();
  }

  async start(): Promise<void> {
    await this.connect();
  }

  publish(message: BusMessage): void {
    if (this.closed) return;
    this.queue.push(message);
    // Someone waits on a request or its answer: it goes now, with whatever else is queued.
    if (message.t === "req" || message.t === "ans") {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.flush(), 0);
    } else this.timer ??= setTimeout(() => void this.flush(), BATCH_MS);
  }

  /** Sends what is queued now; resolves once PostgreSQL has it. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue;
    this.queue = [];
    this.sending = this.sending.then(async () => {
      for (const payload of envelopes(this.opts.replicaId, batch)) {
        await this.deps.store.notify(this.opts.channel, payload).catch((err: unknown) => this.deps.logger.warn({ err: (err as Error).message }, "could not tell the other replicas; they catch up at their next sync"));
      }
    });
    return this.sending;
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.opts.databaseUrl, application_name: "rental-hub-bus", connectionTimeoutMillis: 10_000 });
    client.on("notification", (n) => n.channel === this.opts.channel && n.payload && this.receive(n.payload));
    const lost = (err?: Error): void => {
      if (this.closed || this.client !== client) return;
      this.client = undefined;
      this.deps.logger.warn({ err: err?.message }, "lost the replicas' channel; listening again");
      void client.end().catch(() => undefined);
      setTimeout(() => void this.reconnect(), RECONNECT_MS).unref();
    };
    client.on("error", lost);
    client.on("end", () => lost());
    await client.connect();
    await client.query(`LISTEN "${this.opts.channel}"`);
    this.client = client;
  }

  private async reconnect(): Promise<void> {
    if (this.closed) return;
    try {
      await this.connect();
      this.emit("reset");
    } catch (err) {
      this.deps.logger.warn({ err: (err as Error).message }, "could not listen to the replicas' channel; trying again");
      setTimeout(() => void this.reconnect(), RECONNECT_MS).unref();
    }
  }

  private receive(payload: string): void {
    let envelope: Envelope;
    try {
      envelope = JSON.parse(payload) as Envelope;
    } catch {
      return this.deps.logger.warn("a message on the replicas' channel does not parse; ignored");
    }
    if (envelope.from === this.opts.replicaId) return;
    for (const m of envelope.m) this.emit("message", envelope.from, m);
  }
}

/** The messages, packed into as few payloads as fit; one too large for any payload is left out (senders keep theirs small). */
function envelopes(from: string, batch: BusMessage[]): string[] {
  const out: string[] = [];
  let current: string[] = [];
  let size = 0;
  const head = `{"from":${JSON.stringify(from)},"m":[`;
  const push = (): void => {
    if (current.length > 0) out.push(`${head}${current.join(",")}]}`);
    current = [];
    size = head.length + 2;
  };
  push();
  for (const m of batch) {
    const text = JSON.stringify(m);
    if (head.length + text.length + 2 > MAX_ENVELOPE_BYTES) continue;
    if (size + text.length + 1 > MAX_ENVELOPE_BYTES) push();
    current.push(text);
    size += text.length + 1;
  }
  push();
  return out;
}
