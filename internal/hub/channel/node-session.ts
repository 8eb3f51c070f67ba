import type { ServerDuplexStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { Command, CommandResult, HubMessage, NodeMessage } from "../../proto/gen/gpunode/v1/gpunode.js";
import { CommandWaiters } from "./command-waiters.js";
import { AppError } from "../../errors/app-error.js";

export class NodeDisconnectedError extends AppError {
  override readonly name = "NodeDisconnectedError";
  readonly code = "node_disconnected";
}

/** The node is connected but did not answer a command in time; it may still be working on it. */
export class NodeTimeoutError extends AppError {
  override readonly name = "NodeTimeoutError";
  readonly code = "node_timeout";
}

/** One node's live stream: writes commands down and matches results coming up. */
export class NodeSession {
  private readonly waiters = new CommandWaiters();
  private closed = false;

  constructor(
    readonly nodeId: string,
    /** The node's wallet and the serial of the certificate it presented: what bans and revocations are checked against. */
    readonly peer: { wallet: string; serial: string },
    private readonly call: ServerDuplexStream<NodeMessage, HubMessage>,
    readonly logger: Logger,
  ) {}

  get isOpen(): boolean {
    return !this.closed;
  }

  send(message: HubMessage): void {
    if (this.closed) throw new NodeDisconnectedError(`node ${this.nodeId} is not connected`);
    this.call.write(message);
  }

  async request(command: Command, signal: AbortSignal): Promise<CommandResult> {
    const answer = this.waiters.wait(command.id, signal);
    this.send({ body: { $case: "command", value: command } });
    return answer;
  }

  settle(result: CommandResult): void {
    if (!this.waiters.settle(result)) this.logger.warn({ commandId: result.commandId }, "result for a command nobody waits for");
  }

  /** Ends the stream with a status the node acts on (a ban, a revoked certificate). */
  refuse(code: number, details: string): void {
    if (this.closed) return;
    this.close(details);
    this.call.emit("error", { code, details });
  }

  /** Ends the stream; pending commands fail with NodeDisconnectedError. */
  close(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.waiters.rejectAll(new NodeDisconnectedError(`node ${this.nodeId} disconnected (${why}) before answering`));
    try {
      this.call.end();
    } catch {
      // the transport is already gone; nothing left to end
    }
  }
}
