import { type Command, CommanderError, InvalidArgumentError } from "commander";
import type { Logger } from "pino";
import { userMessage } from "../errors/app-error.js";

/** The message when it is the whole story for the user (printed without a stack), else undefined. */
function explained(err: unknown): string | undefined {
  // commander's own: a flag value its parser refused.
  if (err instanceof InvalidArgumentError) return err.message;
  return userMessage(err);
}

/** Exits 2 after naming the setting that cannot be used (before any logger exists: its level is a setting too). */
export function exitOnConfigError(program: string, err: unknown): never {
  process.stderr.write(`${program}: ${explained(err) ?? (err instanceof Error ? (err.stack ?? err.message) : String(err))}\n`);
  process.exit(2);
}

/** Exits 1 after saying why the program could not start. */
export function exitOnStartFailure(err: unknown, logger: Logger): never {
  const message = explained(err);
  if (message !== undefined) logger.fatal(`cannot start: ${message}`);
  else logger.fatal({ err }, "cannot start");
  logger.flush?.();
  process.exit(1);
}

/** First SIGINT/SIGTERM closes gracefully; a second one exits at once. */
export function closeOnSignals(close: () => Promise<void>, logger: Logger): void {
  let closing = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (closing) {
      logger.warn(`${sig} again: exiting now`);
      process.exit(130);
    }
    closing = true;
    logger.info(`${sig}: shutting down`);
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}

/**
 * Parses the command line; commander's own usage errors (unknown flag or command, missing value) exit
 * 2 like a bad setting, so systemd's RestartPreventExitStatus=2 stops a restart loop on a typo.
 * --help and --version exit 0.
 */
export async function parseCommandLine(program: Command, argv: string[]): Promise<void> {
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const c of all(program)) c.exitOverride();
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
}
