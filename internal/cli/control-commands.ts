import type { Command } from "commander";
import { drainCommand, statusCommand } from "../control/control-commands.js";

const stdio = { out: (t: string) => void process.stdout.write(t), err: (t: string) => void process.stderr.write(t) };

/**
 * `node-daemon status|drain|undrain`: ask the running daemon over its control socket. The socket
 * is found from the same settings as the daemon's (-state-dir, -config, NODE_DAEMON_STATE_DIR).
 */
export function addControlCommands(program: Command, socketPath: () => Promise<string>): Command {
  program
    .command("status")
    .description("show the running daemon's hub connection, node id, certificate, GPUs, rentals and miners")
    .option("--json", "the daemon's GetStatusResponse as JSON (proto3 names and enum names, every field written), for scripts")
    .action(async (o: { json?: boolean }) => {
      process.exitCode = await statusCommand(await socketPath(), { json: o.json === true }, stdio);
    });
  program
    .command("drain")
    .description("take no new rentals (running ones keep running); kept across restarts; the hub stops offering this node")
    .action(async () => {
      process.exitCode = await drainCommand(await socketPath(), true, stdio);
    });
  program
    .command("undrain")
    .description("take new rentals again")
    .action(async () => {
      process.exitCode = await drainCommand(await socketPath(), false, stdio);
    });
  return program;
}
