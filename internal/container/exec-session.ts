import { PassThrough, finished, pipeline, type Duplex, type Readable, type Writable } from "node:stream";
import { sleep } from "../util/abort.js";
import type { ExecSession } from "./engine.js";
import { ContainerError } from "./errors.js";
import { demuxStream } from "./stream-demux.js";
import { untilAborted } from "../util/abort.js";

/** The engine may report an exec as running for a moment after its output ended. */
const EXIT_POLL_MS = 20;
const EXIT_POLL_LIMIT_MS = 10_000;

/** What the engine adapter hands over once an exec has started; no engine types. */
export interface StartedExec {
  /** The hijacked connection (stdin open) or the plain response stream (output only). */
  stream: Duplex | Readable;
  tty: boolean;
  stdin: boolean;
  resize(cols: number, rows: number, signal?: AbortSignal): Promise<void>;
  /** exitCode null while running. */
  inspect(signal?: AbortSignal): Promise<{ running: boolean; exitCode: number | null }>;
  signal?: AbortSignal;
}

export function execSession(x: StartedExec): ExecSession {
  const { stdout, stderr } = x.tty ? rawOutput(x.stream) : demuxStream(x.stream);
  // Resolves when the engine has sent all output: the process is gone (or we closed).
  const outputDone = new Promise<void>((resolve) => finished(x.stream, { writable: false }, () => resolve()));
  let closedByUs = false;
  let exit: Promise<number> | undefined;

  const close = (): void => {
    closedByUs = true;
    x.stream.destroy();
    stdout.destroy();
    stderr.destroy();
  };
  const onAbort = (): void => close();
  x.signal?.addEventListener("abort", onAbort, { once: true });
  void outputDone.then(() => x.signal?.removeEventListener("abort", onAbort));

  const exitCode = async (signal?: AbortSignal): Promise<number> => {
    await untilAborted(outputDone, signal);
    const deadline = Date.now() + EXIT_POLL_LIMIT_MS;
    for (;;) {
      if (closedByUs) throw x.signal?.aborted ? x.signal.reason : new ContainerError("stream_lost", "exec session closed before the process exited");
      const s = await x.inspect(signal);
      if (!s.running && s.exitCode !== null) return s.exitCode;
      if (Date.now() > deadline) throw new ContainerError("engine_error", "exec output ended but the engine still reports it running");
      await sleep(EXIT_POLL_MS, signal);
    }
  };

  return {
    stdin: x.stdin ? (x.stream as Duplex as Writable) : undefined,
    stdout,
    stderr,
    resize: (cols, rows, signal) => (x.tty ? x.resize(cols, rows, signal) : Promise.resolve()),
    // Shared so several callers (bridge + logger) see one answer; a per-call signal only stops that caller waiting.
    wait: (signal) => (signal ? exitCode(signal) : (exit ??= exitCode())),
    close,
  };
}


/** A TTY merges everything onto one raw stream; stderr then carries nothing and ends with stdout. */
function rawOutput(stream: Readable): { stdout: PassThrough; stderr: PassThrough } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  pipeline(stream, stdout, (err) => {
    if (err) stderr.destroy(err);
    else stderr.end();
  });
  return { stdout, stderr };
}
