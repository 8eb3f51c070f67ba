import { chmod, lstat, mkdir, rm } from "node:fs/promises";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import { AppError } from "../errors/app-error.js";

/** Linux's sun_path holds 108 bytes, the terminating NUL included. */
export const MAX_SOCKET_PATH_BYTES = 107;

export class UnixSocketError extends AppError {
  readonly code = "unix_socket";
  override readonly shownToUser = true;
  override readonly name = "UnixSocketError";
}

export interface OwnerOnlySocket {
  /** What the socket is, for messages: "control socket". */
  what: string;
  /** Who else may hold it: "node-daemon" (said when another one answers there). */
  owner: string;
}

/**
 * Listens on a local socket only its user (and root) may open: created 0600 from the start (no moment
 * in which others may connect), parent folder 0700. A socket left by a process that died is removed;
 * one that answers belongs to a running process and is refused.
 */
export async function listenOwnerOnly(path: string, onSocket: (socket: Socket) => void, about: OwnerOnlySocket): Promise<Server> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new UnixSocketError(`${about.what} path ${path} is longer than ${MAX_SOCKET_PATH_BYTES} bytes (a unix socket limit): use a shorter -state-dir`);
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await clearStale(path, about);
  const server = createServer(onSocket);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => reject(new UnixSocketError(`cannot listen on ${about.what} ${path}: ${err.code ?? err.message}`)));
    const restore = setUmask(0o177);
    try {
      server.listen(path, () => resolve());
    } finally {
      restore();
    }
  });
  await chmod(path, 0o600);
  return server;
}

/** Stops listening and removes the socket file. */
export async function closeOwnerOnly(server: Server, path: string): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(path, { force: true });
}

async function clearStale(path: string, about: OwnerOnlySocket): Promise<void> {
  const st = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });
  if (!st) return;
  if (!st.isSocket()) throw new UnixSocketError(`${path} exists and is not a socket: move it away`);
  const alive = await new Promise<boolean>((resolve) => {
    const c = createConnection(path);
    c.once("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", () => resolve(false));
  });
  if (alive) throw new UnixSocketError(`another ${about.owner} is running with this state dir (${path} answers); stop it first, or give this one its own -state-dir`);
  await rm(path, { force: true });
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
