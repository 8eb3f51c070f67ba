import { type Command, InvalidArgumentError } from "commander";
import { userMessage } from "../errors/app-error.js";
import { ethAddress } from "./eth-address-parser.js";
import { duration } from "./parsers.js";
import { readSecretFile } from "./secret-file.js";
import { ConfigError } from "./settings.js";
import { usage } from "./access-commands.js";

interface DeployFlags {
  keyFile: string;
  operator?: string;
  token?: string;
  reclaimDelay: number;
  json?: boolean;
}

/** `rental-hub deploy-escrow`: puts the committed RentalEscrow build on a chain and says how to point the hub at it. */
export function addEscrowCommands(program: Command): Command {
  program
    .command("deploy-escrow")
    .description("deploy the rental escrow contract and print its address and block (for -escrow-address and -escrow-from-block)")
    .requiredOption("--key-file <path>", "private key that pays for the deployment (mode 0600); it becomes the operator unless --operator names another")
    .option("--operator <address>", "the hub's operator address (its -operator-key-file's)", ethAddress)
    .option("--token <address>", "an ERC-20 to take payments in (default: the chain's native currency)", ethAddress)
    .option("--reclaim-delay <duration>", "how long after funding a renter may reclaim a rental the hub never started", positiveDuration, 3_600_000)
    .option("--json", "print one JSON document")
    .addHelpText("after", "\nThe chain is the hub's own -chain-rpc flag.\n\nExample:\n  rental-hub deploy-escrow -chain-rpc http://127.0.0.1:8545 --key-file /etc/rental-hub/operator.key")
    .action(async (o: DeployFlags) => {
      // The hub's flag, parsed by the hub's table: commander gives it to the program, not to the subcommand.
      const chainRpc = program.opts<{ chainRpc?: string }>().chainRpc;
      if (!chainRpc) return usage("deploy-escrow needs -chain-rpc URL (the chain to deploy on)");
      try {
        const deployerKey = await readSecretFile(o.keyFile, "--key-file");
        const { deployEscrow } = await import("../chain/deploy-escrow.js");
        const d = await deployEscrow({ rpcUrl: chainRpc, deployerKey, reclaimDelaySeconds: Math.round(o.reclaimDelay / 1000), ...(o.operator ? { operator: o.operator } : {}), ...(o.token ? { token: o.token } : {}) });
        if (o.json) return void process.stdout.write(`${JSON.stringify(d, null, 2)}\n`);
        process.stdout.write(`RentalEscrow deployed at ${d.address} in block ${d.blockNumber} (transaction ${d.txHash}); operator ${d.operator}\n`);
        process.stdout.write(`Run the hub with: -chain-rpc URL -escrow-address ${d.address} -escrow-from-block ${d.blockNumber} -operator-key-file PATH\n`);
      } catch (err) {
        process.stderr.write(`rental-hub deploy-escrow: ${userMessage(err) ?? (err as { shortMessage?: string }).shortMessage ?? (err as Error).message}\n`);
        // A bad key file is a usage error, like the hub's settings; a chain that refuses is a failure.
        process.exitCode = err instanceof ConfigError ? 2 : 1;
      }
    });
  return program;
}

function positiveDuration(v: string): number {
  const ms = duration(v);
  if (ms < 1000) throw new InvalidArgumentError("at least 1s");
  return ms;
}
