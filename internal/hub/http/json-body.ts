import type { IncomingMessage } from "node:http";
import type { z } from "zod";
import { ApiError, badRequest } from "./api-error.js";

const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

/** Reads a JSON body of at most maxBytes and validates it; nothing invalid gets past this point. */
export async function readJsonBody<T>(req: IncomingMessage, schema: z.ZodType<T>, maxBytes = DEFAULT_MAX_BODY_BYTES): Promise<T> {
  // The media type without its parameters, compared case-insensitively: APPLICATION/JSON is JSON, application/jsonp is not.
  const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (type !== "application/json") {
    throw new ApiError(415, "unsupported_media_type", `the body must be application/json${type ? `, not ${type.slice(0, 100)}` : " (no Content-Type was sent)"}`, { "accept-post": "application/json" });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new ApiError(413, "body_too_large", `request body exceeds ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw badRequest("invalid_json", "request body is not valid JSON");
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw badRequest("invalid_request", issueText(parsed.error, "body"));
  return parsed.data;
}

/** The first issue, where it is (`env.0.name`, or `whole` for the value itself) and what is wrong. */
export function issueText(error: z.ZodError, whole: string): string {
  const issue = error.issues[0];
  const where = issue && issue.path.length > 0 ? issue.path.join(".") : whole;
  return `${where}: ${issue?.message ?? "invalid"}`;
}
