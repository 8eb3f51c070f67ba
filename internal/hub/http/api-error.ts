import { AppError } from "../../errors/app-error.js";
/** An error the REST API shows as-is: a stable code, an HTTP status and a message meant for the caller. */
export class ApiError extends AppError {
  override readonly name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const badRequest = (code: string, message: string): ApiError => new ApiError(400, code, message);
export const unauthorized = (code: string, message: string): ApiError => new ApiError(401, code, message);
export const forbidden = (code: string, message: string): ApiError => new ApiError(403, code, message);
export const notFound = (code: string, message: string): ApiError => new ApiError(404, code, message);
