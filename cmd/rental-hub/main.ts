#!/usr/bin/env node
import { normalizeGoStyleFlags } from "../../internal/cli/go-style-flags.js";
import { closeOnSignals, exitOnStartFailure } from "../../internal/cli/lifecycle.js";
import { prettyWanted } from "../../internal/cli/log-flags.js";
import { rentalHubProgram, toRentalHubArgs } from "../../internal/cli/rental-hub-flags.js";
import { RentalHub } from "../../internal/hub/rental-hub.js";
import { createLogger } from "../../internal/log/logger.js";

const program = rentalHubProgram();
program.parse(normalizeGoStyleFlags(process.argv.slice(2)), { from: "user" });
const args = toRentalHubArgs(program.opts());
const logger = createLogger({ name: "rental-hub", level: args.log.level, pretty: prettyWanted(args.log.format) });

try {
  const hub = await RentalHub.start(args.hub, { logger });
  const i = hub.info;
  logger.info(
    { event: "ready", grpcPort: i.grpcPort, httpPort: i.httpPort, httpUrl: i.httpUrl, caFingerprint: i.caFingerprint, siweDomain: i.siweDomain },
    `rental-hub ready: gRPC (mTLS) on port ${i.grpcPort}, REST on ${i.httpUrl}, SIWE domain ${i.siweDomain}; CA fingerprint ${i.caFingerprint} (give it to nodes as -hub-ca-fingerprint)`,
  );
  closeOnSignals(() => hub.close(), logger);
} catch (err) {
  exitOnStartFailure(err, logger);
}
