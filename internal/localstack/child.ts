import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A program of ours run as a child with JSON logs, each line handed over parsed. */
export class JsonLogChild {
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;

  constructor(script: string, args: string[], onLine: (line: LogLine) => void) {
    // Own process group: Ctrl-C reaches only us, and we stop the children in order.
    this.proc = spawn(process.execPath, [script, ...args, "--log-format", "json"], { stdio: ["ignore", "pipe", "pipe"], detached: true });
    for (const stream of [this.proc.stdout, this.proc.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on("line", (text) => onLine(parseLine(text)));
    }
    this.exited = new Promise((resolve) => this.proc.once("exit", (code, sig) => resolve(code ?? (sig ? 128 : null))));
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill("SIGTERM");
    await this.exited;
  }
}

function parseLine(text: string): LogLine {
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === "object" && typeof (parsed as LogLine).msg === "string") return parsed as LogLine;
  } catch {
    // not one of our log lines (a Node warning, say): shown as it is
  }
  return { level: 40, msg: text };
}
