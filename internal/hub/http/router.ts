import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { ApiError } from "./api-error.js";

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  url: URL;
}

/** A handler returns the JSON to send (status 200), or writes the response itself and returns undefined. */
export type RouteHandler = (ctx: RouteContext) => Promise<unknown>;

interface Route {
  method: string;
  pattern: RegExp;
  keys: string[];
  handler: RouteHandler;
}

/** Method + path routing with `:param` segments; errors become `{error:{code,message}}`. */
export class Router {
  private readonly routes: Route[] = [];

  constructor(private readonly logger: Logger) {}

  on(method: string, path: string, handler: RouteHandler): this {
    const keys: string[] = [];
    const source = path.replace(/:([a-zA-Z]+)/g, (_m, key: string) => {
      keys.push(key);
      return "([^/]+)";
    });
    this.routes.push({ method, pattern: new RegExp(`^${source}$`), keys, handler });
    return this;
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
      const route = matches.find((r) => r.method === req.method);
      if (!route) throw new ApiError(405, "method_not_allowed", `${req.method} is not allowed on ${url.pathname}`);
      const m = route.pattern.exec(url.pathname);
      const params = Object.fromEntries(route.keys.map((k, i) => [k, decodePathSegment(m?.[i + 1] ?? "")]));
      const body = await route.handler({ req, res, params, url });
      if (body !== undefined && !res.headersSent) sendJson(res, 200, body);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof ApiError) {
        for (const [name, value] of Object.entries(err.headers)) res.setHeader(name, value);
        sendJson(res, err.status, { error: { code: err.code, message: err.message } });
        return;
      }
      this.logger.error({ err, path: url.pathname }, "request failed");
      sendJson(res, 500, { error: { code: "internal", message: "internal error; see the hub's log" } });
    }
  };
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
