import type { Server, Socket } from "node:net";
import type { Logger } from "../log/logger.js";
import { SshGatewayError } from "../ssh/errors.js";
import type { SshGateway } from "../ssh/ssh-gateway.js";
import { closeOwnerOnly, listenOwnerOnly } from "../util/unix-socket.js";
import { type GatewayAnswer, type GatewayRequest, type GatewayResponse, gatewayRequest, lineReader, PROTOCOL_VERSION } from "./protocol.js";

export interface GatewayServerDeps {
  gateway: SshGateway;
  logger: Logger;
}

/**
 * node-ssh-gateway's side of the socket: the daemon says which rentals get SSH access, and how. A daemon
 * that goes away (restart, upgrade, crash) changes nothing: listeners and their sessions stay until a
 * daemon closes them, or says after its restart which rentals it still has (retain).
 */
export class GatewayServer {
  private server?: Server;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly opts: { socketPath: string },
    private readonly deps: GatewayServerDeps,
  ) {}

  async start(): Promise<void> {
    this.server = await listenOwnerOnly(this.opts.socketPath, (socket) => this.serve(socket), { what: "SSH gateway socket", owner: "node-ssh-gateway" });
  }

  /** Stops taking daemon connections; the listeners are the gateway's to close. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    await closeOwnerOnly(server, this.opts.socketPath);
  }

  private serve(socket: Socket): void {
    const log = this.deps.logger;
    this.sockets.add(socket);
    let greeted = false;
    socket.setEncoding("utf8");
    socket.on("error", () => socket.destroy());
    socket.once("close", () => {
      this.sockets.delete(socket);
      if (greeted) log.info("node-daemon disconnected: rentals' SSH listeners and sessions stay open");
    });
    const send = (res: GatewayResponse): void => {
      if (!socket.destroyed) socket.write(`${JSON.stringify(res)}\n`);
    };
    const read = lineReader(
      (value) => {
        const parsed = gatewayRequest.safeParse(value);
        if (!parsed.success) {
          const id = typeof (value as { id?: unknown })?.id === "number" ? (value as { id: number }).id : -1;
          return send({ id, ok: false, code: "invalid_request", message: `not a request this node-ssh-gateway (protocol ${PROTOCOL_VERSION}) knows` });
        }
        const req = parsed.data;
        if (req.op !== "hello" && !greeted) return send({ id: req.id, ok: false, code: "invalid_request", message: "hello first" });
        this.handle(req).then(
          (res) => {
            if (req.op === "hello") {
              greeted = true;
              log.info({ listeners: res.open?.length ?? 0 }, "node-daemon connected");
            }
            send(res);
          },
          (err: unknown) => {
            const known = err instanceof SshGatewayError;
            if (!known) log.error({ err, op: req.op }, "gateway request failed");
            send({ id: req.id, ok: false, code: known ? err.code : "internal", message: err instanceof Error ? err.message : String(err) });
          },
        );
      },
      (why) => {
        log.warn(`dropped a connection that sent ${why}`);
        socket.destroy();
      },
    );
    socket.on("data", read);
  }

  private async handle(req: GatewayRequest): Promise<GatewayAnswer> {
    const { gateway } = this.deps;
    switch (req.op) {
      case "hello":
        if (req.protocol !== PROTOCOL_VERSION) {
          throw new SshGatewayError(
            "protocol",
            `node-daemon speaks gateway protocol ${req.protocol}, this node-ssh-gateway ${PROTOCOL_VERSION}: restart node-ssh-gateway (systemctl restart node-ssh-gateway) so both run one version`,
          );
        }
        gateway.listenOn(req.listenHost, req.ports);
        return { id: req.id, ok: true, hostKey: await gateway.hostKeyPin(), open: await gateway.openListeners() };
      case "open":
        return { id: req.id, ok: true, port: (await gateway.open(req.access, req.preferredPort)).port };
      case "close":
        await gateway.close(req.rentalId);
        return { id: req.id, ok: true };
      case "retain": {
        const closed = await gateway.retainOnly(new Set(req.rentalIds));
        if (closed.length > 0) this.deps.logger.info({ closed }, "closed the SSH access of rentals the daemon no longer has");
        return { id: req.id, ok: true, closed };
      }
    }
  }
}
