import { Command } from "commander";
import { defaultStateDir } from "../daemon/options.js";
import type { SshGatewayProcessOptions } from "../sshgateway/gateway-process.js";
import { VERSION } from "../version.js";
import { addFlagTable, type FlagValues, text } from "./flag-table.js";
import { type LogFlags, logFlags, logFlagTable } from "./log-flags.js";
import { type Resolved, resolveSettings } from "./settings.js";

export const NODE_SSH_GATEWAY_ENV_PREFIX = "NODE_SSH_GATEWAY_";
/** Read by systemd's unit (ExecStart=... $NODE_SSH_GATEWAY_ARGS), not a setting. */
const NODE_SSH_GATEWAY_ENV_ALLOWED = ["NODE_SSH_GATEWAY_ARGS"];

/**
 * node-ssh-gateway's settings. Where renters' SSH listens (-ssh-ports, -ssh-listen-host) is node-daemon's
 * to say: it tells the gateway at every connection, so those are set in one place.
 */
export const nodeSshGatewayFlags = {
  stateDir: text({ value: "path", help: "node-daemon's -state-dir: the gateway's socket (ssh-gateway.sock) and the SSH host key live there, and the sftp helper the daemon prepares", default: defaultStateDir(), defaultText: "`$STATE_DIRECTORY`, else `~/.local/state/node-daemon`" }),
  dockerSocket: text({ value: "path", help: "Docker engine socket (sessions run as `docker exec` in the rental's container)", defaultText: "`/var/run/docker.sock`" }),
  ...logFlagTable,
};

export interface NodeSshGatewayArgs {
  gateway: SshGatewayProcessOptions;
  log: LogFlags;
}

export function nodeSshGatewayProgram(): Command {
  const cmd = new Command("node-ssh-gateway").description(
    "Rentals' SSH listeners and sessions, apart from node-daemon (run it with -ssh-gateway external): restarting or upgrading the daemon ends no renter's session.\n\n" +
      `Flags take one dash or two. Each flag is also an environment variable ${NODE_SSH_GATEWAY_ENV_PREFIX}<FLAG>; flags beat the environment.`,
  );
  cmd.version(VERSION, "-V, --version", "print the version and exit");
  return addFlagTable(cmd, nodeSshGatewayFlags, NODE_SSH_GATEWAY_ENV_PREFIX);
}

export function resolveNodeSshGatewaySettings(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Promise<Resolved<typeof nodeSshGatewayFlags>> {
  return resolveSettings(nodeSshGatewayFlags, { flags, env, envPrefix: NODE_SSH_GATEWAY_ENV_PREFIX, envAllowed: NODE_SSH_GATEWAY_ENV_ALLOWED });
}

export function toNodeSshGatewayArgs({ values: v }: { values: FlagValues<typeof nodeSshGatewayFlags> }): NodeSshGatewayArgs {
  return { gateway: { stateDir: v.stateDir, ...(v.dockerSocket ? { dockerSocket: v.dockerSocket } : {}) }, log: logFlags(v) };
}
