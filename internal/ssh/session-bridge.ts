import { pipeline, type Readable, type Writable } from "node:stream";
import { finished } from "node:stream/promises";
import type { PseudoTtyInfo, ServerChannel, Session } from "ssh2";
import type { ContainerEngine, ExecSession } from "../container/engine.js";
import { ContainerError } from "../container/errors.js";
import type { Logger } from "../log/logger.js";
import { LOGIN_SHELL, PidLine, TtyInput, ttyCommand, USER_HOME } from "./tty.js";

/** Client env requests kept per session, and the size of each (OpenSSH sends LANG, LC_*). */
const MAX_ENV_VARS = 64;
const MAX_ENV_VALUE_CHARS = 4096;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Bounds the exec that hangs up an abandoned TTY session. */
const HANGUP_TIMEOUT_MS = 10_000;

export interface SessionContext {
  containerId: string;
  execUser: string;
  engine: ContainerEngine;
  log: Logger;
  /** Aborts when the connection or the rental's listener closes. */
  signal: AbortSignal;
  /** The argv of the injected sftp-server (see sftp-helper.ts). */
  sftpCommand(): Promise<string[]>;
  /** The argv of the injected scp, when the host had one to inject. */
  scpCommand(): Promise<string[] | undefined>;
  /** Work that must finish before the listener counts as closed (hanging up sessions). */
  background(work: Promise<void>): void;
}

type Kind = { type: "shell" } | { type: "exec"; command: string } | { type: "sftp" };

interface ExecSetup {
  env: Record<string, string>;
  /** Present for a TTY session. */
  tty?: { input: TtyInput; pidLine: PidLine; size: { cols: number; rows: number } | undefined };
}

/**
 * One SSH session channel bridged to one `docker exec`: pty-req + shell, exec, the sftp subsystem,
 * env and window-change. The channel is accepted synchronously in the request handler (before any
 * await): accepting later lets a client that already sent EOF (`ssh host cmd </dev/null`) see the
 * session end before it started.
 */
export function handleSession(session: Session, ctx: SessionContext): void {
  let pty: PseudoTtyInfo | undefined;
  let size: { cols: number; rows: number } | undefined;
  const env: Record<string, string> = {};
  let input: TtyInput | undefined;

  session.on("pty", (accept, reject, info) => {
    if (pty) return reject?.();
    pty = info;
    if (info.cols > 0 && info.rows > 0) size = { cols: info.cols, rows: info.rows };
    accept?.();
  });
  session.on("window-change", (accept, _reject, info) => {
    if (info.cols > 0 && info.rows > 0) {
      size = { cols: info.cols, rows: info.rows };
      input?.resize(info.cols, info.rows);
    }
    accept?.();
  });
  session.on("env", (accept, reject, info) => {
    const room = info.key in env || Object.keys(env).length < MAX_ENV_VARS;
    if (!ENV_NAME.test(info.key) || info.val.length > MAX_ENV_VALUE_CHARS || !room) return reject?.();
    env[info.key] = info.val;
    accept?.();
  });

  const start = (channel: ServerChannel, kind: Kind): void => {
    const setup: ExecSetup = { env: { ...env } };
    if (pty && kind.type !== "sftp") {
      const pidLine = new PidLine();
      input = new TtyInput(ctx.log, size, pidLine.pid);
      setup.tty = { input, pidLine, size };
      if (pty.term) setup.env.TERM = pty.term;
    }
    void runExec(channel, kind, setup, ctx);
  };
  session.on("shell", (accept) => start(accept(), { type: "shell" }));
  session.on("exec", (accept, _reject, info) => start(accept(), { type: "exec", command: info.command }));
  session.on("subsystem", (accept, reject, info) => {
    if (info.name !== "sftp") return reject();
    start(accept(), { type: "sftp" });
  });
}

async function runExec(channel: ServerChannel, kind: Kind, setup: ExecSetup, ctx: SessionContext): Promise<void> {
  const log = ctx.log.child({ session: kind.type });
  const closed = new AbortController();
  channel.once("close", () => closed.abort());
  channel.on("error", (err: Error) => log.debug({ err }, "SSH channel error"));
  const signal = AbortSignal.any([ctx.signal, closed.signal]);
  const tty = setup.tty;

  let exec: ExecSession;
  try {
    const cmd = kind.type === "sftp" ? sftpCommand(await ctx.sftpCommand()) : tty ? ttyCommand(kind, tty.size) : plainCommand(kind, await scpFor(kind, ctx));
    exec = await ctx.engine.exec(ctx.containerId, { cmd, tty: tty !== undefined, stdin: true, env: setup.env, user: ctx.execUser, signal });
  } catch (err) {
    if (signal.aborted) return;
    log.warn({ err }, "could not start the SSH session's process");
    channel.stderr.write(`gpunode: ${renterMessage(err)}\r\n`);
    await flushed(channel.stderr, signal);
    channel.end();
    return;
  }
  log.debug({ tty: tty !== undefined }, "SSH session started");

  const stdin = exec.stdin;
  stdin?.on("error", (err: Error) => log.debug({ err }, "exec stdin closed early"));
  let stdout: Readable = exec.stdout;
  if (tty) {
    // A terminal has no end of input: the engine ends a TTY exec's output when its stdin closes.
    tty.input.bind(exec);
    if (stdin) channel.pipe(tty.input, { end: false }).pipe(stdin);
    stdout = pipeline(exec.stdout, tty.pidLine, () => undefined);
  } else if (stdin) {
    channel.pipe(stdin);
  }
  stdout.pipe(channel, { end: false });
  exec.stderr.pipe(channel.stderr, { end: false });

  try {
    await Promise.all([ended(stdout), ended(exec.stderr)]);
    const code = await exec.wait(signal);
    // Everything the process wrote must reach the client before exit-status and close.
    await Promise.all([flushed(channel, signal), flushed(channel.stderr, signal)]);
    signal.throwIfAborted();
    channel.exit(code);
    channel.end();
    log.debug({ code }, "SSH session ended");
  } catch (err) {
    if (!signal.aborted) log.warn({ err }, "SSH session ended abnormally");
    channel.end();
    // The client is gone while its terminal session runs: hang it up, as sshd closing the pty would.
    // Without a TTY nothing is sent, as with sshd: the process sees its pipes close.
    if (tty && signal.aborted) ctx.background(hangUp(tty.pidLine, ctx, log));
  } finally {
    channel.unpipe();
    exec.close();
  }
}

/**
 * Legacy SCP (`scp -O`, WinSCP, IDE plugins) asks the server to run `scp -t` or `scp -f`: the bundled
 * OpenSSH scp answers, whatever the image holds. Its arguments stay for the shell to unquote, as the
 * client quoted them.
 */
const SCP_REQUEST = /^\s*scp(\s+.*)?$/s;

async function scpFor(kind: { type: "shell" } | { type: "exec"; command: string }, ctx: SessionContext): Promise<string[] | undefined> {
  return kind.type === "exec" && SCP_REQUEST.test(kind.command) ? ctx.scpCommand() : undefined;
}

/** sftp-server from the user's home, as sshd starts it: relative paths (`scp file host:name`) land there. */
function sftpCommand(server: string[]): string[] {
  return ["/bin/sh", "-c", `${USER_HOME}; exec "$@"`, "gpunode-sftp", ...server];
}

/** A session without a pty: the user's shell on stdin, or `sh -c COMMAND`, from the user's home as OpenSSH does. */
function plainCommand(kind: { type: "shell" } | { type: "exec"; command: string }, scp?: string[]): string[] {
  if (kind.type !== "exec") return ["/bin/sh", "-c", `${USER_HOME}; ${LOGIN_SHELL}; exec "$s"`];
  const rest = SCP_REQUEST.exec(kind.command)?.[1];
  const command = scp && rest !== undefined ? `${scp.map(shellQuote).join(" ")}${rest}` : kind.command;
  return ["/bin/sh", "-c", `${USER_HOME}; exec /bin/sh -c "$1"`, "gpunode-ssh", command];
}

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** SIGHUP to the session's process inside the container (with the shell's own `kill`). */
async function hangUp(pidLine: PidLine, ctx: SessionContext, log: Logger): Promise<void> {
  const pid = await pidLine.pid;
  if (pid === undefined || pid <= 1) return;
  try {
    const signal = AbortSignal.timeout(HANGUP_TIMEOUT_MS);
    const cmd = ["/bin/sh", "-c", 'kill -HUP "$1" 2>/dev/null', "gpunode-ssh", String(pid)];
    const exec = await ctx.engine.exec(ctx.containerId, { cmd, tty: false, stdin: false, user: ctx.execUser, signal });
    exec.stdout.resume();
    exec.stderr.resume();
    await exec.wait(signal);
    log.debug({ pid }, "hung up an abandoned SSH terminal session");
  } catch (err) {
    log.debug({ err, pid }, "could not hang up an abandoned SSH terminal session");
  }
}

/** What a renter may read about a failed start: decided by error code, never the engine's words. */
function renterMessage(err: unknown): string {
  if (err instanceof ContainerError) {
    if (err.code === "not_found") return "the rental's container no longer exists";
    if (err.code === "conflict") return "the rental's container is not running";
  }
  return "could not start a process in the rental's container";
}

/** Resolves when a readable has ended or was destroyed; never rejects. */
function ended(stream: Readable): Promise<void> {
  return finished(stream).catch(() => undefined);
}

/**
 * Resolves once everything written so far has been handed to the SSH transport, or when `signal`
 * aborts (a client that stopped reading never opens its window again).
 */
function flushed(stream: Writable, signal: AbortSignal): Promise<void> {
  if (stream.writableLength === 0 || stream.destroyed || stream.writableEnded || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      signal.removeEventListener("abort", done);
      resolve();
    };
    signal.addEventListener("abort", done, { once: true });
    stream.write(Buffer.alloc(0), done);
  });
}
