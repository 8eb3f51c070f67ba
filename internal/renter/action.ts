import type { Command } from "commander";
import { userMessage } from "../errors/app-error.js";
import { CliError, EXIT } from "./cli-error.js";
import { type Output, stdio } from "./output.js";

export interface ActionContext<O> {
  out: Output;
  opts: O;
  /** The command's positional arguments (and what follows `--`). */
  args: string[];
  signal: AbortSignal;
}

/**
 * A command's body, with what every command shares: --json from the program, a clear error on
 * stderr (or as {"error":{code,message}} with --json) and the exit status scripts rely on.
 */
export function action<O extends object = Record<string, unknown>>(fn: (ctx: ActionContext<O>) => Promise<void>): (...commanderArgs: unknown[]) => Promise<void> {
  return async (...commanderArgs) => {
    const cmd = commanderArgs.at(-1) as Command;
    const out = stdio(cmd.optsWithGlobals<{ json?: boolean }>().json === true);
    const abort = new AbortController();
    try {
      await fn({ out, opts: cmd.opts() as O, args: cmd.args, signal: abort.signal });
    } catch (err) {
      const code = err instanceof CliError ? err.code : "internal";
      const message = userMessage(err) ?? (err instanceof Error ? (err.stack ?? err.message) : String(err));
      const details = err instanceof CliError ? err.details : {};
      if (out.json) out.out(JSON.stringify({ error: { code, message, ...details } }));
      else out.err(`gpu-rent: ${message}`);
      process.exitCode = err instanceof CliError ? err.exitCode : EXIT.failed;
    } finally {
      abort.abort();
    }
  };
}
