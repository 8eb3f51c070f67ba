#!/usr/bin/env node
import { normalizeGoStyleFlags } from "../../internal/cli/go-style-flags.js";
import { closeOnSignals, exitOnConfigError, exitOnStartFailure } from "../../internal/cli/lifecycle.js";
import { prettyWanted } from "../../internal/cli/log-flags.js";
import { rentalHubProgram, resolveRentalHubSettings, toRentalHubArgs } from "../../internal/cli/rental-hub-flags.js";
import { RentalHub } from "../../internal/hub/rental-hub.js";
import { createLogger } from "../../internal/log/logger.js";

const program = rentalHubProgram();
program.parse(normalizeGoStyleFlags(process.argv.slice(2)), { from: "user" });
// Flags over RENTAL_HUB_* (and the older SIWE_DOMAIN, HUB_DATA_DIR, HUB_DATABASE_URL) over the -config file over defaults.
const args = await resolveRentalHubSettings(program.opts())
  .then(toRentalHubArgs)
  .catch((err: unknown) => exitOnConfigError("rental-hub", err));
const logger = createLogger({ name: "rental-hub", level: args.log.level, pretty: prettyWanted(args.log.format) });

try {
  const hub = await RentalHub.start(args.hub, { logger });
  const i = hub.info;
  logger.info(
    { event: "ready", grpcPort: i.grpcPort, httpPort: i.httpPort, httpUrl: i.httpUrl, caFingerprint: i.caFingerprint, siweDomain: i.siweDomain, metricsUrl: i.metricsUrl },
    `rental-hub ready: gRPC (mTLS) on port ${i.grpcPort}, REST on ${i.httpUrl}, SIWE domain ${i.siweDomain}; CA fingerprint ${i.caFingerprint} (give it to nodes as -hub-ca-fingerprint)`,
  );
  closeOnSignals(() => hub.close(), logger);
} catch (err) {
  exitOnStartFailure(err, logger);
}
