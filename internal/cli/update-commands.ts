import type { Command } from "commander";
import type { UpdateCommandSettings } from "../update/update-command.js";

const stdio = { out: (t: string) => void process.stdout.write(t), err: (t: string) => void process.stderr.write(t) };

/** `node-daemon update [--check]`: from the same settings as the daemon (-hub, -hub-http, -install-root, -release-public-key-file, ...). */
export function addUpdateCommand(program: Command, settings: () => Promise<UpdateCommandSettings>): Command {
  program
    .command("update")
    .description("install the node-daemon version the hub recommends: verified against -release-public-key-file, unpacked beside the running one under -install-root, switched to and restarted; put back if it does not reach the hub within -update-confirm-timeout (run as root)")
    .option("--check", "only say whether a newer version is recommended")
    // Not --version: that is the program's own (print the version).
    .option("--release <version>", "install this version instead of the recommended one (never an older one)")
    .action(async (o: { check?: boolean; release?: string }) => {
      const { updateCommand } = await import("../update/update-command.js");
      process.exitCode = await updateCommand(await settings(), { check: o.check, version: o.release }, stdio);
    });
  return program;
}
