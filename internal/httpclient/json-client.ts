import http from "node:http";
import https from "node:https";
import { AppError } from "../errors/app-error.js";

export interface HttpTarget {
  /** e.g. https://hub.example:8080 */
  baseUrl: string;
  /** PEM of the CA the server certificate must chain to; the system store when absent. */
  ca?: string;
  /** Skip certificate verification: only for fetching a CA candidate that is checked against a pin. */
  unverified?: boolean;
}

export interface RequestOptions {
  body?: unknown;
  bearer?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** A non-2xx answer; `code` is the server's stable error code when it sent one. */
export class HttpError extends AppError {
  override readonly name = "HttpError";
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

const MAX_RESPONSE_BYTES = 1 << 20;

export function requestJson<T>(target: HttpTarget, method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const url = new URL(path, target.baseUrl);
  const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
  const headers: Record<string, string> = { accept: "application/json" };
  if (payload) headers["content-type"] = "application/json";
  if (opts.bearer) headers.authorization = `Bearer ${opts.bearer}`;
  const transport = url.protocol === "https:" ? https : http;
  const signal = opts.signal ? AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs ?? 15_000)]) : AbortSignal.timeout(opts.timeoutMs ?? 15_000);

  return new Promise<T>((resolve, reject) => {
    const req = transport.request(
      url,
      {
        method,
        headers,
        signal,
        ...(url.protocol === "https:" ? { ca: target.ca, rejectUnauthorized: !target.unverified } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) req.destroy(new Error(`response from ${url.origin} exceeds ${MAX_RESPONSE_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            return reject(new HttpError(res.statusCode ?? 0, "bad_response", `${method} ${url.pathname}: answer is not JSON`));
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve(parsed as T);
          const err = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
          reject(new HttpError(status, err?.code ?? "http_error", `${method} ${url.pathname}: ${status} ${err?.message ?? res.statusMessage ?? ""}`.trim()));
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}
