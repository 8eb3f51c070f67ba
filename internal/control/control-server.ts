import type { Server, Socket } from "node:net";
import type { Logger } from "pino";
import { ControlRequest, ControlResponse, type DrainResult, type GetStatusResponse } from "../proto/gen/gpunode/v1/gpunode.js";
import { closeOwnerOnly, listenOwnerOnly } from "../util/unix-socket.js";

/** What `node-daemon status|drain|undrain` can ask of the running daemon. */
export interface ControlHandlers {
  status(signal: AbortSignal): Promise<GetStatusResponse>;
  setDraining(draining: boolean): Promise<DrainResult>;
}

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
    this.server = await listenOwnerOnly(this.opts.socketPath, (socket) => this.serve(socket), { what: "control socket", owner: "node-daemon" });
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await closeOwnerOnly(server, this.opts.socketPath);
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
