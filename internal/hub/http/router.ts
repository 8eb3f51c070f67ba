import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { z } from "zod";
import { apiErrorSchema } from "../../hubapi/common.js";
import { type BodyOf, isJsonReply, type Operation, type ParamsOf, type QueryOf, type ReplyBody } from "../../hubapi/operation.js";
import { ApiError, badRequest } from "./api-error.js";
import { issueText, readJsonBody } from "./json-body.js";

export interface RouteContext<O extends Operation = Operation> {
  req: IncomingMessage;
  res: ServerResponse;
  /** The path's parameters, parsed by the operation's `params`. */
  params: ParamsOf<O>;
  url: URL;
  /** The query, parsed by the operation's `query`: a 400 for what it refuses. Read it where the handler is ready to (after its auth check). */
  query(): QueryOf<O>;
  /** The JSON body, read and parsed by the operation's `body`: 415, 413 or 400 for what it refuses. */
  body(): Promise<BodyOf<O>>;
}

/** Returns the reply's body (parsed through the declared schema, sent with the declared status), or writes the answer itself and returns undefined. */
export type RouteHandler<O extends Operation = Operation> = (ctx: RouteContext<O>) => Promise<ReplyBody<O>>;

interface Route {
  op: Operation;
  pattern: RegExp;
  keys: string[];
  handler: RouteHandler;
}

/**
 * Method + path routing of declared operations (internal/hubapi); errors become `{error:{code,message}}`.
 * A JSON reply leaves only through its schema: a field the schema does not name is dropped, and a
 * body that does not match it is a 500 (logged), never sent.
 */
export class Router {
  private readonly routes: Route[] = [];

  constructor(private readonly logger: Logger) {}

  on<O extends Operation>(op: O, handler: RouteHandler<O>): this {
    const keys: string[] = [];
    const source = op.path.replace(/\{(\w+)\}/g, (_m, key: string) => {
      keys.push(key);
      return "([^/]+)";
    });
    this.routes.push({ op, pattern: new RegExp(`^${source}$`), keys, handler: handler as unknown as RouteHandler });
    return this;
  }

  /** The operations registered so far, in order. */
  operations(): Operation[] {
    return this.routes.map((r) => r.op);
  }

  readonly handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://hub.invalid");
    const started = performance.now();
    // One line per request, when it is done: the path without its query (which may carry anything).
    res.once("close", () => this.logger.info({ method: req.method, path: url.pathname, status: res.statusCode, ms: Math.round(performance.now() - started) }, "request"));
    res.setHeader("cache-control", "no-store");
    try {
      const matches = this.routes.filter((r) => r.pattern.test(url.pathname));
      if (matches.length === 0) throw new ApiError(404, "not_found", `no such endpoint: ${url.pathname}`);
      const route = matches.find((r) => r.op.method === req.method);
      if (!route) throw new ApiError(405, "method_not_allowed", `${req.method} is not allowed on ${url.pathname}`);
      const { op } = route;
      const m = route.pattern.exec(url.pathname);
      const raw = Object.fromEntries(route.keys.map((k, i) => [k, decodePathSegment(m?.[i + 1] ?? "")]));
      const ctx = {
        req,
        res,
        url,
        params: op.params ? parseOrThrow(op.params, raw, "invalid_request", "path") : raw,
        query: () => (op.query ? parseOrThrow(op.query, firstValues(url.searchParams), op.queryError ?? "invalid_request", "query") : {}),
        body: () => (op.body ? readJsonBody(req, op.body.schema, op.body.maxBytes) : Promise.reject(new Error(`${op.operationId} declares no body`))),
      } as RouteContext;
      const body = await route.handler(ctx);
      if (!isJsonReply(op.reply) || res.headersSent) return;
      const checked = op.reply.schema.safeParse(body);
      if (!checked.success) {
        this.logger.error({ operation: op.operationId, issues: checked.error.issues.slice(0, 5).map((i) => ({ path: i.path.join("."), message: i.message })) }, "a reply does not match its declared schema; sent a 500 instead");
        throw new Error(`${op.operationId}: reply does not match its schema`);
      }
      sendJson(res, op.reply.status, checked.data);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof ApiError) {
        for (const [name, value] of Object.entries(err.headers)) res.setHeader(name, value);
        sendJson(res, err.status, apiErrorSchema.parse({ error: { code: err.code, message: err.message } }));
        return;
      }
      this.logger.error({ err, path: url.pathname }, "request failed");
      sendJson(res, 500, apiErrorSchema.parse({ error: { code: "internal", message: "internal error; see the hub's log" } }));
    }
  };
}

function parseOrThrow(schema: z.ZodType, value: unknown, code: string, where: string): unknown {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw badRequest(code, issueText(parsed.error, where));
  return parsed.data;
}

/** A repeated query parameter counts by its first value. */
function firstValues(params: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of params) if (!(k in out)) out[k] = v;
  return out;
}

/** A path parameter as text; a malformed percent-encoding is the caller's mistake (400), not ours. */
function decodePathSegment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ApiError(400, "bad_path", `the path segment ${JSON.stringify(raw.slice(0, 64))} is not valid percent-encoded UTF-8`);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
