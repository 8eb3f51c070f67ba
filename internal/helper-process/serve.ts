import { text } from "node:stream/consumers";
import { AppError } from "../errors/app-error.js";

export type HelperReply<O> = { result: O } | { error: { code: string; message: string } };

/**
 * A helper script's whole life (run.ts starts it): reads one JSON request on stdin, answers with
 * `{ result }` or `{ error }` on stdout. Only our own errors' messages go back: a library's could
 * quote its input, and the input may hold a key.
 */
export async function serveHelperRequest<I, O>(handle: (input: I) => Promise<O>): Promise<void> {
  let reply: HelperReply<O>;
  try {
    reply = { result: await handle(JSON.parse(await text(process.stdin)) as I) };
  } catch (err) {
    reply = { error: err instanceof AppError ? { code: String(err.code), message: err.message } : { code: "helper_failed", message: `failed with a ${(err as Error).name}` } };
    process.exitCode = 1;
  }
  process.stdout.write(JSON.stringify(reply));
}
