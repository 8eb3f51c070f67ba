import { EventEmitter } from "node:events";
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";

export interface CapturedLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A real pino logger whose lines a test can read and wait for. */
type Match = (l: CapturedLine) => boolean;

export interface CapturedLogs {
  logger: Logger;
  lines: CapturedLine[];
  text: () => string;
  /** The first matching line, already logged or still to come. */
  waitFor: (m: Match, what: string, timeoutMs?: number) => Promise<CapturedLine>;
  /** The first matching line logged after this call. */
  waitForNext: (m: Match, what: string, timeoutMs?: number) => Promise<CapturedLine>;
}

export function captureLogs(level = "debug"): CapturedLogs {
  const lines: CapturedLine[] = [];
  const raw: string[] = [];
  const events = new EventEmitter();
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString().split("\n").filter(Boolean)) {
        raw.push(text);
        const line = JSON.parse(text) as CapturedLine;
        lines.push(line);
        events.emit("line", line);
      }
      done();
    },
  });
  const waitFrom = (from: number, match: Match, what: string, timeoutMs = 20_000): Promise<CapturedLine> => {
    const seen = lines.slice(from).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        events.off("line", on);
        reject(new Error(`no ${what} within ${timeoutMs} ms; last: ${lines.slice(-8).map((l) => l.msg).join(" | ")}`));
      }, timeoutMs);
      const on = (l: CapturedLine): void => {
        if (!match(l)) return;
        clearTimeout(timer);
        events.off("line", on);
        resolve(l);
      };
      events.on("line", on);
    });
  };
  return {
    logger: pino({ level }, sink),
    lines,
    text: () => raw.join("\n"),
    waitFor: (m, what, timeoutMs) => waitFrom(0, m, what, timeoutMs),
    waitForNext: (m, what, timeoutMs) => waitFrom(lines.length, m, what, timeoutMs),
  };
}
