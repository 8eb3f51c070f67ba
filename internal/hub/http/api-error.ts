import { AppError } from "../../errors/app-error.js";
/** An error the REST API shows as-is: a stable code, an HTTP status and a message meant for the caller. */
export class ApiError extends AppError {
  override readonly name = "ApiError";
  override readonly shownToUser = true;
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra response headers (Retry-After on a 429). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** A 429 that says when to come back, in the message and in Retry-After. */
export const rateLimited = (what: string, waitSeconds: number): ApiError =>
  new ApiError(429, "rate_limited", `${what}; try again in ${waitSeconds} s`, { "retry-after": String(waitSeconds) });

export const badRequest = (code: string, message: string): ApiError => new ApiError(400, code, message);
export const unauthorized = (code: string, message: string): ApiError => new ApiError(401, code, message);
export const forbidden = (code: string, message: string): ApiError => new ApiError(403, code, message);
export const notFound = (code: string, message: string): ApiError => new ApiError(404, code, message);
