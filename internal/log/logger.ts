import { pino, type Logger, type LevelWithSilent } from "pino";
import pretty from "pino-pretty";

export type { Logger };

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

// Field names that may carry a secret anywhere in a log object. pino censors them
// before serialisation, so a careless `log.info({ opts })` cannot leak a key.
const REDACTED_PATHS = [
  "privateKey", "*.privateKey", "keyPem", "*.keyPem", "token", "*.token",
  "password", "*.password", "authorization", "*.authorization", "headers.authorization",
];

export interface LoggerOptions {
  name: string;
  level: LevelWithSilent;
  /** Human-readable lines; defaults to "stdout is a terminal". */
  pretty?: boolean;
}

export function createLogger(opts: LoggerOptions): Logger {
  const base = {
    name: opts.name,
    level: opts.level,
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
  };
  const wantPretty = opts.pretty ?? process.stdout.isTTY === true;
  if (!wantPretty) return pino(base);
  return pino(base, pretty({ colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname", sync: true }));
}
