import { createConnection } from "node:net";
import { ControlRequest, ControlResponse } from "../proto/gen/gpunode/v1/gpunode.js";
import { AppError } from "../errors/app-error.js";

export type ControlClientErrorCode = "no_daemon" | "denied" | "timeout" | "bad_answer";

export class ControlClientError extends AppError {
  override readonly name = "ControlClientError";
  constructor(
    readonly code: ControlClientErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** One request to the daemon over its control socket, one answer back. */
export function askDaemon(socketPath: string, request: ControlRequest, timeoutMs = 15_000): Promise<ControlResponse> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let text = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ControlClientError("timeout", `node-daemon did not answer on ${socketPath} within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write(`${JSON.stringify(ControlRequest.toJSON(request))}\n`));
    socket.on("data", (chunk: string) => (text += chunk));
    socket.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(connectError(socketPath, err));
    });
    socket.on("end", () => {
      clearTimeout(timer);
      const line = text.split("\n")[0] ?? "";
      try {
        resolve(ControlResponse.fromJSON(JSON.parse(line)));
      } catch {
        reject(new ControlClientError("bad_answer", `node-daemon answered something unreadable on ${socketPath}`));
      }
    });
  });
}

function connectError(path: string, err: NodeJS.ErrnoException): ControlClientError {
  switch (err.code) {
    case "ENOENT":
      return new ControlClientError("no_daemon", `is node-daemon running? no socket at ${path} (pass the daemon's -state-dir or -config if it uses another)`);
    case "ECONNREFUSED":
      return new ControlClientError("no_daemon", `is node-daemon running? nothing listens on ${path} (a socket left by a daemon that stopped)`);
    case "EACCES":
    case "EPERM":
      return new ControlClientError("denied", `cannot open ${path}: it is the daemon user's only (mode 0600); run this as that user or root`);
    default:
      return new ControlClientError("no_daemon", `cannot reach node-daemon on ${path}: ${err.code ?? err.message}`);
  }
}
