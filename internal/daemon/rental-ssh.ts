import type { Logger } from "pino";
import type { ContainerEngine } from "../container/engine.js";
import { SshGateway, sshStatePaths } from "../ssh/ssh-gateway.js";
import type { SshListeners } from "../ssh/ssh-listeners.js";
import type { DaemonOptions } from "./options.js";

/** Rentals' SSH listeners as the daemon holds them, whichever process runs them. */
export interface RentalSsh {
  listeners: SshListeners;
  /** After adoption: the listeners of rentals this daemon no longer has are closed. */
  reconcile(): Promise<void>;
  /** The daemon stops: embedded, sessions end with it; external, they stay with node-ssh-gateway. */
  close(): Promise<void>;
}

export interface RentalSshDeps {
  engine: ContainerEngine;
  logger: Logger;
  /** The node's notices (what the hub shows the provider): a gateway that does not answer is said there. */
  notices: string[];
}

/** -ssh-gateway embedded: listeners in this process. external: node-ssh-gateway's, over its socket. */
export async function openRentalSsh(opts: Pick<DaemonOptions, "sshGateway" | "stateDir" | "sshListenHost" | "sshPorts">, deps: RentalSshDeps): Promise<RentalSsh> {
  const paths = sshStatePaths(opts.stateDir);
  if (opts.sshGateway === "embedded") {
    const gateway = new SshGateway({ ...paths, listenHost: opts.sshListenHost, ports: opts.sshPorts }, { engine: deps.engine, logger: deps.logger });
    return { listeners: gateway, reconcile: async () => {}, close: () => gateway.closeAll() };
  }
  // Only this mode talks to node-ssh-gateway: its client and protocol (zod) are loaded for it alone.
  const [{ GatewayClient }, { gatewaySocketPath }] = await Promise.all([import("../sshgateway/gateway-client.js"), import("../sshgateway/protocol.js")]);
  let notice: string | undefined;
  const client = new GatewayClient(
    { socketPath: gatewaySocketPath(opts.stateDir), listenHost: opts.sshListenHost, ports: opts.sshPorts, hostKeyPath: paths.hostKeyPath },
    {
      logger: deps.logger,
      onReachable: (reachable, why) => {
        if (notice !== undefined && deps.notices.includes(notice)) deps.notices.splice(deps.notices.indexOf(notice), 1);
        notice = reachable ? undefined : why;
        if (notice !== undefined) deps.notices.push(notice);
      },
    },
  );
  await client.start();
  return { listeners: client, reconcile: () => client.reconcile(), close: async () => client.disconnect() };
}
