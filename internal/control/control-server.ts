import { chmod, lstat, mkdir, rm } from "node:fs/promises";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import type { Logger } from "pino";
import { ControlRequest, ControlResponse, type DrainResult, type GetStatusResponse } from "../proto/gen/gpunode/v1/gpunode.js";
import { AppError } from "../errors/app-error.js";

/** What `node-daemon status|drain|undrain` can ask of the running daemon. */
export interface ControlHandlers {
  status(signal: AbortSignal): Promise<GetStatusResponse>;
  setDraining(draining: boolean): Promise<DrainResult>;
}

export class ControlSocketError extends AppError {
  readonly code = "control_socket";
  override readonly shownToUser = true;
  override readonly name = "ControlSocketError";
}

/** Linux's sun_path holds 108 bytes, the terminating NUL included. */
const MAX_SOCKET_PATH_BYTES = 107;
const MAX_REQUEST_BYTES = 64 * 1024;
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * The daemon's local control socket: owner-only (0600), one JSON line of ControlRequest per
 * connection, answered by one JSON line of ControlResponse. Whoever can open it can drain the node,
 * so it is never more than the daemon's own user's (and root's).
 */
export class ControlServer {
  private server?: Server;

  constructor(
    private readonly opts: { socketPath: string },
    private readonly deps: { handlers: ControlHandlers; logger: Logger; signal: AbortSignal },
  ) {}

  async start(): Promise<void> {
    const path = this.opts.socketPath;
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
      throw new ControlSocketError(`control socket path ${path} is longer than ${MAX_SOCKET_PATH_BYTES} bytes (a unix socket limit): use a shorter -state-dir`);
    }
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await this.clearStale(path);
    const server = createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) => reject(new ControlSocketError(`cannot listen on control socket ${path}: ${err.code ?? err.message}`)));
      // Created owner-only from the start: no moment in which others may connect.
      const restore = setUmask(0o177);
      try {
        server.listen(path, () => resolve());
      } finally {
        restore();
      }
    });
    await chmod(path, 0o600);
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(this.opts.socketPath, { force: true });
  }

  /** A socket left by a daemon that died is removed; one that answers belongs to a running daemon. */
  private async clearStale(path: string): Promise<void> {
    const st = await lstat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw err;
    });
    if (!st) return;
    if (!st.isSocket()) throw new ControlSocketError(`${path} exists and is not a socket: move it away`);
    const alive = await new Promise<boolean>((resolve) => {
      const c = createConnection(path);
      c.once("connect", () => {
        c.destroy();
        resolve(true);
      });
      c.once("error", () => resolve(false));
    });
    if (alive) throw new ControlSocketError(`another node-daemon is running with this state dir (${path} answers); stop it first, or give this one its own -state-dir`);
    await rm(path, { force: true });
  }

  private serve(socket: Socket): void {
    let buffered = "";
    let answered = false;
    socket.setEncoding("utf8");
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy());
    socket.on("error", () => socket.destroy());
    const reply = (res: ControlResponse): void => {
      answered = true;
      socket.end(`${JSON.stringify(ControlResponse.toJSON(res))}\n`);
    };
    const fail = (code: string, message: string): void => reply({ outcome: { $case: "error", value: { code, message } } });
    socket.on("data", (chunk: string) => {
      if (answered) return;
      buffered += chunk;
      const nl = buffered.indexOf("\n");
      if (nl < 0) {
        if (buffered.length > MAX_REQUEST_BYTES) fail("invalid_request", "request too large");
        return;
      }
      let request: ControlRequest;
      try {
        request = ControlRequest.fromJSON(JSON.parse(buffered.slice(0, nl)));
      } catch {
        return fail("invalid_request", "expected one line of ControlRequest JSON");
      }
      answered = true;
      this.handle(request).then(reply, (err: unknown) => {
        this.deps.logger.warn({ err }, "control request failed");
        fail("internal", err instanceof Error ? err.message : String(err));
      });
    });
  }

  private async handle(request: ControlRequest): Promise<ControlResponse> {
    const body = request.body;
    const { handlers } = this.deps;
    switch (body?.$case) {
      case "getStatus":
        return { outcome: { $case: "status", value: await handlers.status(AbortSignal.any([this.deps.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)])) } };
      case "setDraining": {
        const result = await handlers.setDraining(body.value.draining);
        this.deps.logger.info({ draining: result.draining, changed: result.changed }, result.draining ? "draining: no new rentals" : "not draining: taking rentals");
        return { outcome: { $case: "drain", value: result } };
      }
      default:
        return { outcome: { $case: "error", value: { code: "unknown_request", message: "this daemon answers getStatus and setDraining" } } };
    }
  }
}

/** process.umask is refused in worker threads; there the chmod after listen has to do. */
function setUmask(mask: number): () => void {
  try {
    const old = process.umask(mask);
    return () => process.umask(old);
  } catch {
    return () => {};
  }
}
