/**
 * The command round trip, measured from outside the hub without adding anything to it: a renter
 * signs in (SIWE, once) and asks for rental logs. `GET /v1/rentals/{id}/logs` makes the hub
 * send a getRentalLogs command down the node's stream and wait for its CommandResult, so its
 * latency is HTTPS + token check + one store read + the command's stream round trip.
 * `GET /v1/rentals/{id}` does the same minus the command: the difference is the command's share.
 */
import https from "node:https";
import { Wallet } from "ethers";
import { createSignIn } from "../../internal/auth/siwe-signer.js";
import type { NonceResponse, SignInResponse } from "../../internal/proto/gen/gpunode/v1/gpunode.js";
import { sleep } from "../../internal/util/abort.js";

export interface Reply {
  status: number;
  body: unknown;
  ms: number;
}

const REQUEST_TIMEOUT_MS = 15_000;

export class Renter {
  private readonly agent: https.Agent;
  private token = "";

  constructor(
    private readonly baseUrl: string,
    caCertPem: string,
    private readonly wallet = Wallet.createRandom(),
  ) {
    // One kept-alive connection: the TLS handshake is paid once, not per sample.
    this.agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: caCertPem });
  }

  request(method: string, path: string, body?: unknown): Promise<Reply> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { accept: "application/json" };
    if (payload) headers["content-type"] = "application/json";
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const t = performance.now();
    return new Promise((resolve, reject) => {
      const req = https.request(new URL(path, this.baseUrl), { method, headers, agent: this.agent, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // keep the text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, ms: performance.now() - t });
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(payload);
    });
  }

  private async ok(method: string, path: string, body?: unknown): Promise<unknown> {
    const r = await this.request(method, path, body);
    if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    return r.body;
  }

  /** The same signed-in renter asking another replica: a session is good on every replica. */
  at(baseUrl: string, caCertPem: string): Renter {
    const other = new Renter(baseUrl, caCertPem, this.wallet);
    other.token = this.token;
    return other;
  }

  async signIn(): Promise<void> {
    this.token = "";
    const nonce = (await this.ok("GET", "/v1/auth/nonce")) as NonceResponse;
    const { message, signature } = await createSignIn({ signer: this.wallet, domain: nonce.domain, uri: nonce.uri, chainId: nonce.chainId, nonce: nonce.nonce, statement: "hub-load bench renter" });
    this.token = ((await this.ok("POST", "/v1/auth/verify", { message, signature })) as SignInResponse).token;
  }

  /** A batch rental on each node (the simulated node book-keeps it), once the hub calls it running. */
  async rentOn(nodeIds: string[], deadlineMs: number): Promise<string[]> {
    const ids: string[] = [];
    for (const nodeId of nodeIds) {
      const r = (await this.ok("POST", "/v1/rentals", { nodeId, gpuCount: 0, image: "bench/none:latest", command: ["true"] })) as { id: string };
      ids.push(r.id);
    }
    for (const id of ids) {
      for (;;) {
        const r = (await this.ok("GET", `/v1/rentals/${id}`)) as { status: string; reason: string };
        if (r.status === "running") break;
        if (r.status !== "starting") throw new Error(`rental ${id} is ${r.status}: ${r.reason}`);
        if (Date.now() > deadlineMs) throw new Error(`rental ${id} still starting`);
        await sleep(50);
      }
    }
    return ids;
  }

  /**
   * Until `untilMs` (and at most maxRounds rounds), one request at a time, `rounds` a second:
   * logs (a command), the rental itself (no command), /healthz (no store, no auth).
   */
  async probe(rentalIds: string[], untilMs: number, perSecond: number, maxRounds: number, signal: AbortSignal): Promise<{ command: number[]; read: number[]; health: number[]; failures: number; firstFailure: string }> {
    const out = { command: [] as number[], read: [] as number[], health: [] as number[], failures: 0, firstFailure: "" };
    const fail = (what: string): void => {
      out.failures++;
      out.firstFailure ||= what.slice(0, 200);
    };
    for (let i = 0; i < maxRounds && Date.now() < untilMs && !signal.aborted; i++) {
      const t = performance.now();
      const id = rentalIds[i % rentalIds.length];
      try {
        const logs = await this.request("GET", `/v1/rentals/${id}/logs?tail=1`);
        if (logs.status === 200) out.command.push(logs.ms);
        else fail(`logs ${logs.status} ${JSON.stringify(logs.body)}`);
        const read = await this.request("GET", `/v1/rentals/${id}`);
        if (read.status === 200) out.read.push(read.ms);
        else fail(`rental ${read.status}`);
        const health = await this.request("GET", "/healthz");
        if (health.status === 200) out.health.push(health.ms);
        else fail(`healthz ${health.status}`);
      } catch (err) {
        fail((err as Error).message);
      }
      const rest = 1000 / perSecond - (performance.now() - t);
      if (rest > 0) await sleep(rest, signal).catch(() => undefined);
    }
    return out;
  }

  close(): void {
    this.agent.destroy();
  }
}
