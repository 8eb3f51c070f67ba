import type { z } from "zod";
import type { Tag } from "./common.js";

/**
 * One endpoint of the hub's REST API, declared once: the hub's Router serves it (parsing what the
 * handler returns through `reply.schema`), the OpenAPI document is generated from it, and the
 * contract test calls it and checks the answer against it.
 */
export interface Operation {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** OpenAPI's path template: `/v1/rentals/{id}`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tags: Tag[];
  /** none: anyone; session: a bearer token or the session cookie, else 401; optional: anyone, and a session changes the answer. */
  security: "none" | "session" | "optional";
  /** The path's `{name}` segments, in order. */
  params?: z.ZodObject;
  /** Query parameters; read with ctx.query(), which answers 400 for what the schema refuses. */
  query?: z.ZodObject;
  /** The error code of a query the schema refuses (default invalid_request). */
  queryError?: string;
  /** A JSON request body; read with ctx.body(), which answers 415, 413 or 400 for what it refuses. */
  body?: { schema: z.ZodType; maxBytes?: number; description?: string };
  reply: Reply;
  /** The error answers it gives (an Error body), by status, with what each means. */
  errors?: Partial<Record<ErrorStatus, string>>;
  /** Answers without a body besides the reply (304 Not Modified). */
  bodiless?: Record<number, string>;
}

export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 410 | 413 | 415 | 429 | 502 | 504;

export interface ResponseHeader {
  description: string;
}

/** The handler returns the body; the Router parses it through `schema` and sends it as JSON with `status`. */
export interface JsonReply<S extends z.ZodType = z.ZodType> {
  status: 200 | 201 | 202;
  description: string;
  schema: S;
  headers?: Record<string, ResponseHeader>;
}

/** The handler writes the answer itself (a page, a file, a PEM, an event stream) and returns undefined. */
export interface OwnReply {
  status: 200 | 204;
  description: string;
  /** By media type; empty for a 204. */
  content: Record<string, z.ZodType>;
  headers?: Record<string, ResponseHeader>;
  /** A text/event-stream's events, by SSE event name: the JSON each `data:` line carries. */
  events?: Record<string, z.ZodType>;
}

export type Reply = JsonReply | OwnReply;

/** Declares an operation; the identity, keeping the declared schemas' own types for the handler's. */
export function operation<O extends Operation>(op: O): O {
  return op;
}

/** What a handler returns: the reply's body as the view builds it, or undefined when it writes the answer itself. */
export type ReplyBody<O> = O extends { reply: { schema: infer S extends z.ZodType } } ? z.input<S> : undefined;
export type ParamsOf<O> = O extends { params: infer P extends z.ZodObject } ? z.output<P> : Record<string, never>;
export type QueryOf<O> = O extends { query: infer Q extends z.ZodObject } ? z.output<Q> : Record<string, never>;
export type BodyOf<O> = O extends { body: { schema: infer B extends z.ZodType } } ? z.output<B> : never;

export function isJsonReply(r: Reply): r is JsonReply {
  return "schema" in r;
}
