import { EventEmitter, once } from "node:events";
import http from "node:http";
import https from "node:https";
import type { BaseWallet } from "ethers";
import { createSignIn } from "../../internal/auth/siwe-signer.js";
import type { EventStreamEvents } from "../../internal/hubapi/events.js";
import { SESSION_COOKIE } from "../../internal/hubapi/common.js";
import { type HttpTarget, requestJson } from "../../internal/httpclient/json-client.js";

/** Signs a wallet in through the hub's REST API, as a renter's client does; returns the session token. */
export async function signIn(http: HttpTarget, wallet: BaseWallet): Promise<string> {
  const url = new URL(http.baseUrl);
  const { nonce } = await requestJson<{ nonce: string }>(http, "GET", "/v1/auth/nonce");
  const { message, signature } = await createSignIn({ signer: wallet, domain: url.host, uri: url.origin, chainId: 1, nonce, statement: "Sign in to rent GPUs." });
  return (await requestJson<{ token: string }>(http, "POST", "/v1/auth/verify", { body: { message, signature } })).token;
}

type EventName = keyof EventStreamEvents;
interface SseEvent {
  event: string;
  data: unknown;
}

/** A minimal EventSource, as the dashboard reads GET /v1/events: parses the stream into events and counts `:` comments. */
export class SseReader {
  readonly events: SseEvent[] = [];
  comments = 0;
  private readonly changed = new EventEmitter();
  private buffer = "";

  constructor(readonly res: http.IncomingMessage) {
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      this.buffer += chunk;
      let end: number;
      while ((end = this.buffer.indexOf("\n\n")) >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        let event = "message";
        const data: string[] = [];
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) this.comments++;
          else if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data.push(line.slice(6));
        }
        if (data.length > 0) this.events.push({ event, data: JSON.parse(data.join("\n")) });
        this.changed.emit("change");
      }
    });
  }

  /** All events of one name so far (from the `from`-th event on). */
  all<K extends EventName>(name: K, from = 0): Array<EventStreamEvents[K]> {
    return this.events
      .slice(from)
      .filter((e) => e.event === name)
      .map((e) => e.data as EventStreamEvents[K]);
  }

  /** Resolves with the first event of that name (from the `from`-th event on) that matches. */
  async next<K extends EventName>(name: K, match: (d: EventStreamEvents[K]) => boolean = () => true, from = 0): Promise<EventStreamEvents[K]> {
    for (;;) {
      const found = this.events.slice(from).find((e) => e.event === name && match(e.data as EventStreamEvents[K]));
      if (found) return found.data as EventStreamEvents[K];
      await once(this.changed, "change");
    }
  }

  async until(check: () => boolean): Promise<void> {
    while (!check()) await once(this.changed, "change");
  }

  close(): void {
    this.res.destroy();
  }
}

/** GET /v1/events with the session cookie, as a signed-in browser sends it. */
export function openSse(url: string, opts: { token?: string; ca?: string } = {}): Promise<SseReader> {
  const headers = opts.token ? { cookie: `other=1; ${SESSION_COOKIE}=${opts.token}` } : {};
  return new Promise((resolve, reject) => {
    const get = url.startsWith("https:") ? https.get : http.get;
    get(url, { headers, ca: opts.ca }, (res) => {
      if (res.statusCode !== 200 || !String(res.headers["content-type"]).startsWith("text/event-stream")) reject(new Error(`GET ${url}: ${res.statusCode}`));
      else resolve(new SseReader(res));
    }).on("error", reject);
  });
}
