#!/usr/bin/env node
import { normalizeGoStyleFlags } from "../../internal/cli/go-style-flags.js";
import { closeOnSignals, exitOnConfigError, exitOnStartFailure, parseCommandLine } from "../../internal/cli/lifecycle.js";
import { prettyWanted } from "../../internal/cli/log-flags.js";
import { nodeSshGatewayProgram, resolveNodeSshGatewaySettings, toNodeSshGatewayArgs } from "../../internal/cli/node-ssh-gateway-flags.js";
import { createLogger } from "../../internal/log/logger.js";
import { SshGatewayProcess } from "../../internal/sshgateway/gateway-process.js";

const program = nodeSshGatewayProgram();
program.action(async () => {
  if (program.args.length > 0) program.error(`error: unknown argument '${program.args[0]}' (node-ssh-gateway takes flags only)`);
  const args = toNodeSshGatewayArgs(await resolveNodeSshGatewaySettings(program.opts()).catch((err: unknown) => exitOnConfigError("node-ssh-gateway", err)));
  const logger = createLogger({ name: "node-ssh-gateway", level: args.log.level, pretty: prettyWanted(args.log.format) });
  try {
    const gateway = await SshGatewayProcess.start(args.gateway, { logger });
    // SIGTERM ends rentals' sessions (they live here); restarting node-daemon does not send it.
    closeOnSignals(() => gateway.close(), logger);
  } catch (err) {
    exitOnStartFailure(err, logger);
  }
});

await parseCommandLine(program.allowExcessArguments(true), normalizeGoStyleFlags(process.argv.slice(2)));
