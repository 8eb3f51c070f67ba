import { CommandFailure, type CommandHandlers } from "../channel/command-dispatcher.js";
import type { RentalService } from "../rental/rental-service.js";
import { sleep } from "../util/abort.js";
import type { NodeStatus } from "./node-status.js";

/** Upper bound for a ping's requested delay: a probe, not a way to park work on the node. */
const MAX_PING_DELAY_MS = 60_000;

/** The commands this node answers today; rentals add theirs here. */
export function commandHandlers(deps: { status: NodeStatus; rentals: () => RentalService | undefined; draining: () => boolean }): CommandHandlers {
  let pingRuns = 0;
  const rentals = (): RentalService => {
    const r = deps.rentals();
    if (!r) throw new CommandFailure("rentals_unavailable", "this node runs no rentals: its Docker engine was not reachable at start (see the node's notices)");
    if (r.unavailable) throw new CommandFailure("rentals_unavailable", `this node runs no rentals now: ${r.unavailable}`);
    return r;
  };
  return {
    ping: async (cmd, signal) => {
      await sleep(Math.min(cmd.delayMs, MAX_PING_DELAY_MS), signal);
      pingRuns++;
      return { $case: "ping", value: { payload: cmd.payload, runs: pingRuns } };
    },
    getStatus: async (_cmd, signal) => ({ $case: "status", value: await deps.status.status(signal) }),
    startRental: async (cmd, signal) => {
      // A repeated start of a rental this node already holds is answered as before; only new ones are refused.
      if (deps.draining() && !deps.rentals()?.knows(cmd.rentalId)) {
        throw new CommandFailure("node_draining", "this node is draining: it takes no new rentals (running ones keep running); its operator lifts it with `node-daemon undrain`");
      }
      const r = rentals();
      if (r.engineDown) throw new CommandFailure("rentals_unavailable", `this node takes no new rentals now: ${r.engineDown}`);
      return { $case: "rental", value: await r.start(cmd, signal) };
    },
    stopRental: async (cmd, signal) => ({ $case: "rental", value: await rentals().stop(cmd, signal) }),
    getRentalLogs: async (cmd, signal) => ({ $case: "rentalLogs", value: await rentals().logs(cmd, signal) }),
  };
}
