#!/usr/bin/env node
import { addControlCommands } from "../../internal/cli/control-commands.js";
import { addUpdateCommand } from "../../internal/cli/update-commands.js";
import { normalizeGoStyleFlags } from "../../internal/cli/go-style-flags.js";
import { closeOnSignals, exitOnConfigError, exitOnStartFailure, parseCommandLine } from "../../internal/cli/lifecycle.js";
import { prettyWanted } from "../../internal/cli/log-flags.js";
import { nodeDaemonProgram, resolveNodeDaemonSettings, toNodeDaemonArgs } from "../../internal/cli/node-daemon-flags.js";
import { controlSocketPath } from "../../internal/daemon/options.js";
import { createLogger } from "../../internal/log/logger.js";

const program = nodeDaemonProgram();
// Flags over NODE_DAEMON_* over the -config file over defaults; a bad one ends the program here.
const settings = async () => toNodeDaemonArgs(await resolveNodeDaemonSettings(program.opts()).catch((err: unknown) => exitOnConfigError("node-daemon", err)));

addControlCommands(program, async () => controlSocketPath((await settings()).daemon.stateDir));
addUpdateCommand(program, settings);
program.action(async () => {
  if (program.args.length > 0) program.error(`error: unknown command '${program.args[0]}' (commands: status, drain, undrain, update; none runs the daemon)`);
  const args = await settings();
  const logger = createLogger({ name: "node-daemon", level: args.log.level, pretty: prettyWanted(args.log.format) });
  try {
    // Loaded here, not at the top: `status`, `drain` and `undrain` need none of it and answer faster.
    const { NodeDaemon } = await import("../../internal/daemon/node-daemon.js");
    const daemon = await NodeDaemon.start(args.daemon, { logger });
    // SIGTERM stops the daemon's own work only: rentals keep running and are adopted at the next start.
    closeOnSignals(() => daemon.close(), logger);
  } catch (err) {
    exitOnStartFailure(err, logger);
  }
});

await parseCommandLine(program.allowExcessArguments(true), normalizeGoStyleFlags(process.argv.slice(2)));
