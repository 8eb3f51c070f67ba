import { EventEmitter } from "node:events";
import type { ContainerEngine, ContainerEvent } from "../../internal/container/engine.js";

/**
 * Follows the real engine's container events so a test can wait for a state of the engine
 * (re-checked at every event) instead of sleeping.
 */
export class EngineWatch {
  private readonly emitter = new EventEmitter();
  private readonly abort = new AbortController();

  private constructor(readonly engine: ContainerEngine) {}

  static async start(engine: ContainerEngine): Promise<EngineWatch> {
    const w = new EngineWatch(engine);
    const events = await engine.events(w.abort.signal);
    void (async () => {
      try {
        for await (const ev of events) w.emitter.emit("event", ev);
      } catch {
        // stopped
      }
    })();
    return w;
  }

  /** Resolves once check() is true: checked now and after every container event. */
  async until<T>(check: () => Promise<T | undefined | false>, what: string, timeoutMs = 30_000): Promise<T> {
    const first = await check();
    if (first) return first;
    return new Promise<T>((resolve, reject) => {
      let busy = false;
      let again = false;
      const timer = setTimeout(() => {
        this.emitter.off("event", onEvent);
        reject(new Error(`engine never reached: ${what} (within ${timeoutMs} ms)`));
      }, timeoutMs);
      const onEvent = (_ev: ContainerEvent): void => {
        if (busy) {
          again = true;
          return;
        }
        busy = true;
        void (async () => {
          do {
            again = false;
            const ok = await check().catch(() => undefined);
            if (ok) {
              clearTimeout(timer);
              this.emitter.off("event", onEvent);
              resolve(ok);
              return;
            }
          } while (again);
          busy = false;
        })();
      };
      this.emitter.on("event", onEvent);
    });
  }

  next(match: (ev: ContainerEvent) => boolean, what: string, timeoutMs = 30_000): Promise<ContainerEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.emitter.off("event", on);
        reject(new Error(`no engine event: ${what}`));
      }, timeoutMs);
      const on = (ev: ContainerEvent): void => {
        if (!match(ev)) return;
        clearTimeout(timer);
        this.emitter.off("event", on);
        resolve(ev);
      };
      this.emitter.on("event", on);
    });
  }

  stop(): void {
    this.abort.abort();
  }
}
