import type { Logger } from "pino";
import type { DaemonMetrics } from "../metrics/daemon-metrics.js";
import type { Command, CommandResult } from "../proto/gen/gpunode/v1/gpunode.js";
import { AppError } from "../errors/app-error.js";

type Body = NonNullable<Command["body"]>;
type Outcome = NonNullable<CommandResult["outcome"]>;
type CaseOf<U> = U extends { $case: infer C } ? C : never;
type ValueOf<C> = Extract<Body, { $case: C }>["value"];

/** One function per command kind; it returns the outcome or throws a CommandFailure. */
export type CommandHandlers = { [C in CaseOf<Body>]?: (value: ValueOf<C>, signal: AbortSignal) => Promise<Outcome> };

/** A refusal a handler wants the hub to see with its own code (invalid_argument, unknown_gpu, ...). */
export class CommandFailure extends AppError {
  override readonly name = "CommandFailure";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface CommandDispatcherOptions {
  /** How many answered ids are remembered so a repeated id is answered, not re-run. */
  rememberIds: number;
}

/**
 * Runs commands concurrently and answers each id once: a command whose id was seen before gets
 * the first run's result (flagged `repeated`), even while that first run is still going.
 */
export class CommandDispatcher {
  private readonly seen = new Map<string, Promise<CommandResult>>();

  constructor(
    private readonly opts: CommandDispatcherOptions,
    private readonly deps: { handlers: CommandHandlers; logger: Logger; metrics: DaemonMetrics | null },
  ) {}

  async dispatch(command: Command, signal: AbortSignal): Promise<CommandResult> {
    const earlier = this.seen.get(command.id);
    if (earlier) return { ...(await earlier), repeated: true };
    const started = performance.now();
    const run = this.run(command, signal);
    this.remember(command.id, run);
    const result = await run;
    const type = command.body?.$case ?? "empty";
    this.deps.metrics?.commands.inc({ type, outcome: result.outcome?.$case === "error" ? result.outcome.value.code : "ok" });
    this.deps.metrics?.commandSeconds.observe({ type }, (performance.now() - started) / 1000);
    return result;
  }

  private async run(command: Command, signal: AbortSignal): Promise<CommandResult> {
    const answer = (outcome: Outcome): CommandResult => ({ commandId: command.id, outcome, repeated: false });
    if (!command.id) return answer(failure("invalid_argument", "command has no id"));
    const body = command.body;
    const handler = body ? (this.deps.handlers[body.$case] as ((v: unknown, s: AbortSignal) => Promise<Outcome>) | undefined) : undefined;
    if (!body || !handler) return answer(failure("unknown_command", `this node does not handle ${body?.$case ?? "an empty"} command`));
    const log = this.deps.logger.child({ commandId: command.id, command: body.$case });
    try {
      const outcome = await handler(body.value, signal);
      log.debug("command done");
      return answer(outcome);
    } catch (err) {
      if (err instanceof CommandFailure) {
        log.info({ code: err.code, reason: err.message }, "command refused");
        return answer(failure(err.code, err.message));
      }
      log.error({ err }, "command failed");
      return answer(failure("internal", (err as Error).message ?? String(err)));
    }
  }

  private remember(id: string, result: Promise<CommandResult>): void {
    this.seen.set(id, result);
    // Maps iterate in insertion order: the first key is the oldest.
    while (this.seen.size > this.opts.rememberIds) {
      const oldest = this.seen.keys().next().value as string;
      this.seen.delete(oldest);
    }
  }
}

function failure(code: string, message: string): Outcome {
  return { $case: "error", value: { code, message } };
}
