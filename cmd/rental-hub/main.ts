#!/usr/bin/env node
import { join } from "node:path";
import { addAccessCommands } from "../../internal/cli/access-commands.js";
import { addEscrowCommands } from "../../internal/cli/escrow-commands.js";
import { addReleaseCommands } from "../../internal/cli/release-commands.js";
import { normalizeGoStyleFlags } from "../../internal/cli/go-style-flags.js";
import { closeOnSignals, exitOnConfigError, exitOnStartFailure, parseCommandLine } from "../../internal/cli/lifecycle.js";
import { prettyWanted } from "../../internal/cli/log-flags.js";
import { rentalHubProgram, resolveRentalHubSettings, toRentalHubArgs } from "../../internal/cli/rental-hub-flags.js";
import { createLogger } from "../../internal/log/logger.js";

const program = rentalHubProgram();
// Flags over RENTAL_HUB_* (and the older SIWE_DOMAIN, HUB_DATA_DIR, HUB_DATABASE_URL) over the -config file over defaults.
const settings = () =>
  resolveRentalHubSettings(program.opts())
    .then(toRentalHubArgs)
    .catch((err: unknown) => exitOnConfigError("rental-hub", err));

addAccessCommands(program, async () => {
  const { hub } = await settings();
  const { openHubStore } = await import("../../internal/hub/store/open-store.js");
  return openHubStore({ databaseUrl: hub.databaseUrl, sqliteFile: join(hub.dataDir, "hub.db") }).catch((err: unknown) => exitOnConfigError("rental-hub", err));
});
addEscrowCommands(program);
addReleaseCommands(program, async () => (await settings()).hub.dataDir);
program.action(async () => {
  if (program.args.length > 0) program.error(`error: unknown command '${program.args[0]}' (commands: ban, unban, revoke-cert, access, deploy-escrow, release; none runs the hub)`);
  const args = await settings();
  const logger = createLogger({ name: "rental-hub", level: args.log.level, pretty: prettyWanted(args.log.format) });
  try {
    const { RentalHub } = await import("../../internal/hub/rental-hub.js");
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
});

await parseCommandLine(program.allowExcessArguments(true), normalizeGoStyleFlags(process.argv.slice(2)));
