import { DockerodeEngine } from "../container/dockerode-engine.js";
import type { Logger } from "../log/logger.js";
import { defaultSshGatewayOptions, SshGateway, sshStatePaths } from "../ssh/ssh-gateway.js";
import { GatewayServer } from "./gateway-server.js";
import { gatewaySocketPath } from "./protocol.js";

export interface SshGatewayProcessOptions {
  /** node-daemon's state dir: the socket, the host key and the sftp helper are there. */
  stateDir: string;
  /** Docker's socket; /var/run/docker.sock when absent. */
  dockerSocket?: string;
}

/**
 * node-ssh-gateway: rentals' SSH listeners and sessions in a process of their own, so that restarting or
 * upgrading node-daemon (or its crash) ends no renter's session. The daemon says over the socket which
 * rentals get access; sessions are bridged into `docker exec` as in the daemon's embedded gateway.
 */
export class SshGatewayProcess {
  private constructor(
    private readonly server: GatewayServer,
    private readonly gateway: SshGateway,
    private readonly logger: Logger,
  ) {}

  static async start(opts: SshGatewayProcessOptions, deps: { logger: Logger }): Promise<SshGatewayProcess> {
    const { logger } = deps;
    const engine = new DockerodeEngine(opts.dockerSocket ? { socketPath: opts.dockerSocket } : {});
    // Until a daemon says where (hello), the defaults; no listener opens before that anyway.
    const gateway = new SshGateway({ ...defaultSshGatewayOptions, ...sshStatePaths(opts.stateDir) }, { engine, logger });
    // The host key now, not at the first login: a key file that cannot be used stops the start, with its path.
    const pin = await gateway.hostKeyPin();
    const socketPath = gatewaySocketPath(opts.stateDir);
    const server = new GatewayServer({ socketPath }, { gateway, logger: logger.child({ part: "socket" }) });
    await server.start();
    logger.info({ socket: socketPath, hostKey: pin.fingerprint }, "node-ssh-gateway ready: waiting for node-daemon");
    return new SshGatewayProcess(server, gateway, logger);
  }

  /** Stopping the gateway itself (not the daemon) ends rentals' sessions: they live here. */
  async close(): Promise<void> {
    await this.server.close();
    await this.gateway.closeAll();
    this.logger.info("node-ssh-gateway stopped");
  }
}
