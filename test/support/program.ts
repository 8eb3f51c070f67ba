import { type ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const DIST = fileURLToPath(new URL("../../dist/", import.meta.url));
export const HUB_SCRIPT = `${DIST}cmd/rental-hub/main.js`;
export const DAEMON_SCRIPT = `${DIST}cmd/node-daemon/main.js`;
export const GATEWAY_SCRIPT = `${DIST}cmd/node-ssh-gateway/main.js`;

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/**
 * One of our programs as a real process with JSON logs. Tests wait for the log line that says
 * a thing happened (an event), never for a fixed time.
 */
export class Program {
  readonly proc: ChildProcess;
  readonly lines: LogLine[] = [];
  /** Everything it wrote, for checks such as "the private key never appears". */
  output = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly events = new EventEmitter();

  constructor(
    readonly name: string,
    script: string,
    args: string[],
    env: NodeJS.ProcessEnv = {},
    /** A command to run node under, e.g. ["ip", "netns", "exec", NAME] for a network namespace. */
    launcher: string[] = [],
  ) {
    const [command = process.execPath, ...prefix] = [...launcher, process.execPath];
    this.proc = spawn(command, [...prefix, script, ...args, "--log-format", "json"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    });
    for (const stream of [this.proc.stdout, this.proc.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on("line", (text) => this.onLine(text));
    }
    this.exited = new Promise((resolve) => this.proc.once("exit", (code, signal) => resolve({ code, signal })));
  }

  /** Resolves with the first line (already seen or still to come) that matches. */
  waitFor(match: (l: LogLine) => boolean, what: string, timeoutMs = 20_000): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const onLine = (l: LogLine): void => {
        if (!match(l)) return;
        cleanup();
        resolve(l);
      };
      const onExit = (): void => {
        cleanup();
        reject(new Error(`${this.name} exited while waiting for ${what}; last lines:\n${this.tail()}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms; last lines:\n${this.tail()}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.events.off("line", onLine);
        this.proc.off("exit", onExit);
      };
      this.events.on("line", onLine);
      this.proc.once("exit", onExit);
    });
  }

  /** Lines that arrive after this call only. */
  waitForNext(match: (l: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine> {
    const from = this.lines.length;
    return this.waitFor((l) => this.lines.indexOf(l) >= from && match(l), what, timeoutMs);
  }

  async kill(signal: NodeJS.Signals = "SIGTERM"): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    return this.exited;
  }

  tail(n = 15): string {
    return this.lines
      .slice(-n)
      .map((l) => l.msg)
      .join("\n");
  }

  private onLine(text: string): void {
    this.output += `${text}\n`;
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { level: 40, msg: text };
    }
    this.lines.push(line);
    this.events.emit("line", line);
  }
}
