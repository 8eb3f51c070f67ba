#!/usr/bin/env node
import { normalizeGoStyleFlags } from "../../internal/cli/go-style-flags.js";
import { closeOnSignals, exitOnStartFailure } from "../../internal/cli/lifecycle.js";
import { prettyWanted } from "../../internal/cli/log-flags.js";
import { nodeDaemonProgram, toNodeDaemonArgs } from "../../internal/cli/node-daemon-flags.js";
import { NodeDaemon } from "../../internal/daemon/node-daemon.js";
import { createLogger } from "../../internal/log/logger.js";

const program = nodeDaemonProgram();
program.parse(normalizeGoStyleFlags(process.argv.slice(2)), { from: "user" });
const args = toNodeDaemonArgs(program.opts());
const logger = createLogger({ name: "node-daemon", level: args.log.level, pretty: prettyWanted(args.log.format) });

try {
  const daemon = await NodeDaemon.start(args.daemon, { logger });
  closeOnSignals(() => daemon.close(), logger);
} catch (err) {
  exitOnStartFailure(err, logger);
}
