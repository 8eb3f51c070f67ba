import { AppError } from "../errors/app-error.js";

/** Exit statuses scripts can rely on. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A command that cannot do what was asked: its message is the whole story; `exitCode` is 1 or 2. */
export class CliError extends AppError {
  override readonly name = "CliError";
  override readonly shownToUser = true;
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: number = EXIT.failed,
    /** More for scripts: with --json it goes into the error object next to code and message. */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export const usageError = (message: string): CliError => new CliError("usage", message, EXIT.usage);
