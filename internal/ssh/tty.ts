import { Transform, type TransformCallback } from "node:stream";
import type { ExecSession } from "../container/engine.js";
import type { Logger } from "../log/logger.js";

/** The first line a TTY session's wrapper prints: its PID inside the container, then the tty's own "\r\n". */
const PID_LINE = /^gpunode-pid:(\d{1,10})\r?\n/;
/** Longest first line PidLine waits for before deciding it is not ours. */
const PID_LINE_MAX_BYTES = 64;

export type TtyKind = { type: "shell" } | { type: "exec"; command: string };

/**
 * What OpenSSH does for a login, in the image's own terms: the session user's HOME and working
 * folder from the image's /etc/passwd (by uid: the exec runs as the image's USER), and its login
 * shell in $s. Tolerant of images without awk or a passwd entry: then HOME stays as the engine set it.
 */
export const USER_HOME =
  'e=$(awk -F: -v u="$(id -u 2>/dev/null)" \'$3==u {print $6":"$7; exit}\' /etc/passwd 2>/dev/null); h=${e%%:*}; s=${e#*:}; ' +
  'if [ -n "$h" ] && [ -d "$h" ]; then export HOME="$h"; cd "$h" 2>/dev/null; fi';
/** After USER_HOME: the passwd shell when it runs here, else bash where the image has it, else /bin/sh. */
export const LOGIN_SHELL = '[ -n "$s" ] && [ -x "$s" ] || s=$(command -v bash 2>/dev/null || echo /bin/sh)';

/**
 * The argv for a TTY session. A small /bin/sh wrapper (1) prints its PID, which stays the session's
 * PID after `exec`, so a disconnect can hang it up (docker never does: without this an abandoned
 * shell runs forever), (2) sets the terminal size before the shell or command starts: the engine
 * can only resize once the exec runs, too late for `stty size` or a full-screen program's first
 * frame (without stty in the image the engine's resize that follows still applies), (3) execs the
 * login shell or `/bin/sh -c COMMAND`.
 */
export function ttyCommand(kind: TtyKind, size: { cols: number; rows: number } | undefined): string[] {
  const target = kind.type === "shell" ? `${LOGIN_SHELL}; exec "$s" -l` : 'exec /bin/sh -c "$3"';
  const stty = size ? 'stty rows "$1" cols "$2" 2>/dev/null; ' : "";
  const script = `echo "gpunode-pid:$$"; ${USER_HOME}; ${stty}${target}`;
  return ["/bin/sh", "-c", script, "gpunode-ssh", String(size?.rows ?? 0), String(size?.cols ?? 0), ...(kind.type === "exec" ? [kind.command] : [])];
}

/** Takes the wrapper's PID line off the front of a TTY's output; anything else passes untouched. */
export class PidLine extends Transform {
  /** The PID inside the container, or undefined when the output did not start with it. */
  readonly pid: Promise<number | undefined>;
  private settle!: (pid: number | undefined) => void;
  private head: Buffer | undefined = Buffer.alloc(0);

  constructor() {
    super();
    this.pid = new Promise((resolve) => (this.settle = resolve));
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.head === undefined) return cb(null, chunk);
    const head = Buffer.concat([this.head, chunk]);
    const nl = head.indexOf(0x0a);
    if (nl < 0 && head.length < PID_LINE_MAX_BYTES) {
      this.head = head;
      return cb();
    }
    this.head = undefined;
    const m = PID_LINE.exec(head.subarray(0, nl + 1).toString("latin1"));
    this.settle(m?.[1] ? Number(m[1]) : undefined);
    cb(null, m ? head.subarray(m[0].length) : head);
  }

  override _flush(cb: TransformCallback): void {
    const rest = this.head;
    this.head = undefined;
    this.settle(undefined);
    cb(null, rest && rest.length > 0 ? rest : undefined);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.settle(undefined);
    cb(err);
  }
}

/**
 * Keystrokes for a TTY exec. Held back until `ready` (the wrapper runs, so the tty cannot echo
 * typed-ahead input before the PID line) and while a resize is in flight, so input and window
 * changes reach the process in the order the client sent them, as on a real terminal.
 */
export class TtyInput extends Transform {
  private pending: Promise<void>;
  private exec: ExecSession | undefined;

  constructor(
    private readonly log: Logger,
    /** The size to apply once the exec runs; window changes before then replace it. */
    private want: { cols: number; rows: number } | undefined,
    ready: Promise<unknown>,
  ) {
    super();
    this.pending = ready.then(() => undefined);
  }

  /** From here on resizes go to the exec, starting with the latest size asked for. */
  bind(exec: ExecSession): void {
    this.exec = exec;
    if (this.want) this.resize(this.want.cols, this.want.rows);
  }

  resize(cols: number, rows: number): void {
    const exec = this.exec;
    if (!exec) {
      this.want = { cols, rows };
      return;
    }
    this.pending = this.pending.then(() =>
      exec.resize(cols, rows).catch((err: unknown) => this.log.debug({ err, cols, rows }, "resize failed")),
    );
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.pending.then(() => cb(null, chunk), cb);
  }
}
