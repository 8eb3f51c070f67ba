import type { CommandHandlers } from "../channel/command-dispatcher.js";
import { sleep } from "../util/abort.js";
import type { NodeStatus } from "./node-status.js";

/** Upper bound for a ping's requested delay: a probe, not a way to park work on the node. */
const MAX_PING_DELAY_MS = 60_000;

/** The commands this node answers today; rentals add theirs here. */
export function commandHandlers(deps: { status: NodeStatus }): CommandHandlers {
  let pingRuns = 0;
  return {
    ping: async (cmd, signal) => {
      await sleep(Math.min(cmd.delayMs, MAX_PING_DELAY_MS), signal);
      pingRuns++;
      return { $case: "ping", value: { payload: cmd.payload, runs: pingRuns } };
    },
    getStatus: async (_cmd, signal) => ({ $case: "status", value: await deps.status.status(signal) }),
  };
}
