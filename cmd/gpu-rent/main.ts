#!/usr/bin/env node
import { Command, CommanderError } from "commander";
import { EXIT } from "../../internal/renter/cli-error.js";
import { addEscrowCommands } from "../../internal/renter/escrow-commands.js";
import { addNodeCommands } from "../../internal/renter/node-commands.js";
import { addRentalCommands } from "../../internal/renter/rental-commands.js";
import { addRunCommand } from "../../internal/renter/run-command.js";
import { addSessionCommands } from "../../internal/renter/session-commands.js";
import { addSshCommand } from "../../internal/renter/ssh-command.js";
import { VERSION } from "../../internal/version.js";

const program = new Command("gpu-rent")
  .description("Rent GPUs from a rental hub: sign in with your wallet, find nodes, rent, ssh in, stop; on a hub that takes payments, rent pays the deposit from your wallet and withdraw takes back what was not used.\n\nExit status: 0 done, 1 refused or failed (the hub's code and message say why), 2 bad usage.")
  .version(VERSION)
  .option("--json", "print results (and errors) as JSON, for scripts")
  .showHelpAfterError()
  .exitOverride();
addSessionCommands(program);
addNodeCommands(program);
addRentalCommands(program);
addRunCommand(program);
addEscrowCommands(program);
addSshCommand(program);
for (const c of program.commands) c.exitOverride();

try {
  await program.parseAsync(process.argv.slice(2), { from: "user" });
} catch (err) {
  // commander's own usage errors (unknown option, missing argument) are exit 2; --help and --version are 0.
  if (err instanceof CommanderError) process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  else throw err;
}
