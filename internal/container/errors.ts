import { AppError } from "../errors/app-error.js";
export type ContainerErrorCode =
  /** The spec asks for something we never allow (a writable host bind, the engine socket, …). */
  | "invalid_spec"
  /** No such container. */
  | "not_found"
  /** The image is not local and the registry does not have it (or cannot be reached). */
  | "image_not_found"
  /** A pull that went quiet for longer than its stall timeout. */
  | "pull_stalled"
  | "pull_failed"
  /** Created but would not start: a command that does not exist, a GPU the runtime refused, … */
  | "start_failed"
  /** Name already in use, or the container is in a state that forbids the call. */
  | "conflict"
  /** Nothing answers on the engine's socket. */
  | "engine_unavailable"
  /** The storage driver cannot limit a container's writable layer (StorageOpt size). */
  | "storage_unsupported"
  /** The engine ended a stream (events) that we did not end. */
  | "stream_lost"
  | "engine_error";

/** Callers branch on `code`; `message` carries the engine's own words for logs. */
export class ContainerError extends AppError {
  override readonly name = "ContainerError";

  constructor(
    readonly code: ContainerErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The shape docker-modem gives its errors (HTTP status + engine JSON), and Node's socket errors. */
interface EngineErrorLike {
  statusCode?: number;
  code?: string;
  json?: { message?: string } | null;
  message?: string;
}

export interface ErrorCodes {
  /** What a 404 means for this call: an unknown container unless said otherwise. */
  on404?: ContainerErrorCode;
  /** What any other engine failure means for this call. */
  otherwise?: ContainerErrorCode;
}

/** Engine status codes -> our codes. `what` names the call for the message ("inspect abc123"). */
export function fromEngineError(err: unknown, what: string, codes: ErrorCodes = {}): ContainerError {
  if (err instanceof ContainerError) return err;
  const e = (typeof err === "object" && err !== null ? err : {}) as EngineErrorLike;
  const detail = (e.json && typeof e.json === "object" && e.json.message) || e.message || String(err);
  const msg = `${what}: ${detail.trim()}`;
  if (e.code === "ECONNREFUSED" || e.code === "ENOENT" || e.code === "EACCES") {
    return new ContainerError("engine_unavailable", msg, { cause: err });
  }
  switch (e.statusCode) {
    case 404:
      return new ContainerError(codes.on404 ?? "not_found", msg, { cause: err });
    case 409:
      return new ContainerError("conflict", msg, { cause: err });
    default:
      return new ContainerError(codes.otherwise ?? "engine_error", msg, { cause: err });
  }
}
