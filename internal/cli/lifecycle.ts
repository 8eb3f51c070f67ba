import type { Logger } from "pino";

/** Errors whose message is the whole story for the user: printed without a stack trace. */
const EXPLAINED = new Set(["PrivateKeyError", "DaemonConfigError", "EnrollError", "HubTrustError", "CertificateError", "SchemaError", "InvalidArgumentError", "DatabaseUrlError", "DatabaseConnectionError", "ConfigError", "MetricsServerError", "ControlSocketError"]);

/** Exits 2 after naming the setting that cannot be used (before any logger exists: its level is a setting too). */
export function exitOnConfigError(program: string, err: unknown): never {
  if (err instanceof Error && EXPLAINED.has(err.name)) process.stderr.write(`${program}: ${err.message}\n`);
  else process.stderr.write(`${program}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
}

/** Exits 1 after saying why the program could not start. */
export function exitOnStartFailure(err: unknown, logger: Logger): never {
  if (err instanceof Error && EXPLAINED.has(err.name)) logger.fatal(`cannot start: ${err.message}`);
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
