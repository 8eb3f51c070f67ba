import { createRequire } from "node:module";
import { pino, type Logger, type LevelWithSilent } from "pino";

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
  if (wantPretty) return pino(base, prettyStream()({ colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname", sync: true }));
  // Under systemd, stdout is the journal: level names in the JSON and a syslog priority in front
  // of each line (sd-daemon(3)), so `journalctl -p warning` shows warnings and worse.
  if (process.env.JOURNAL_STREAM) return pino({ ...base, formatters: { level: (label) => ({ level: label }) } }, journalDestination());
  return pino(base);
}

/**
 * pino-pretty, required only when pretty lines are wanted (a terminal): JSON logs (systemd, npm
 * start) never load it, which keeps it out of an idle daemon's memory (bench/daemon-memory.ts).
 */
function prettyStream(): typeof import("pino-pretty") {
  return createRequire(import.meta.url)("pino-pretty") as typeof import("pino-pretty");
}

/** sd-daemon(3) priorities for pino's levels. */
const SYSLOG_PRIORITY: Record<string, number> = { fatal: 2, error: 3, warn: 4, info: 6, debug: 7, trace: 7 };

/** The `<N>` prefix journald reads as the line's priority; the level is the JSON's first field. */
export function journalPrefix(line: string): string {
  const label = /^\{"level":"(\w+)"/.exec(line)?.[1] ?? "info";
  return `<${SYSLOG_PRIORITY[label] ?? 6}>`;
}

function journalDestination(): { write(line: string): void } {
  const out = pino.destination({ dest: 1, sync: true });
  return { write: (line) => void out.write(journalPrefix(line) + line) };
}
