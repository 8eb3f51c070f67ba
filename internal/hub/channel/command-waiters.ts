import type { CommandResult } from "../../proto/gen/gpunode/v1/gpunode.js";

interface Waiter {
  resolve: (r: CommandResult) => void;
  reject: (e: Error) => void;
}

/** Commands sent and not yet answered, by id; a repeated id queues a second waiter behind the first. */
export class CommandWaiters {
  private readonly byId = new Map<string, Waiter[]>();

  wait(id: string, signal: AbortSignal): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (r) => {
          signal.removeEventListener("abort", onAbort);
          resolve(r);
        },
        reject: (e) => {
          signal.removeEventListener("abort", onAbort);
          reject(e);
        },
      };
      const onAbort = (): void => {
        this.remove(id, waiter);
        reject(signal.reason instanceof Error ? signal.reason : new Error(`command ${id} abandoned`));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      this.byId.set(id, [...(this.byId.get(id) ?? []), waiter]);
    });
  }

  settle(result: CommandResult): boolean {
    const list = this.byId.get(result.commandId);
    const first = list?.shift();
    if (list && list.length === 0) this.byId.delete(result.commandId);
    first?.resolve(result);
    return first !== undefined;
  }

  rejectAll(err: Error): void {
    for (const list of this.byId.values()) for (const w of list) w.reject(err);
    this.byId.clear();
  }

  private remove(id: string, waiter: Waiter): void {
    const list = this.byId.get(id)?.filter((w) => w !== waiter) ?? [];
    if (list.length > 0) this.byId.set(id, list);
    else this.byId.delete(id);
  }
}
