/**
 * The base of every error this project raises on purpose. `code` is stable (scripts, API bodies and
 * tests match on it); `shownToUser` says the message is the whole story for whoever runs the
 * program, so it is printed as is, without a stack trace. Anything else that reaches the top is a
 * bug and keeps its stack.
 */
export abstract class AppError extends Error {
  abstract readonly code: string | number;
  readonly shownToUser: boolean = false;
}

/** The message of an error meant for the user, or undefined when the error is a bug worth a stack. */
export function userMessage(err: unknown): string | undefined {
  return err instanceof AppError && err.shownToUser ? err.message : undefined;
}
