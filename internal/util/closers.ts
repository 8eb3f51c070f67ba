import type { Logger } from "pino";

/**
 * What a composition root has started, closed in reverse order of starting. A failure to close
 * one part is logged and the rest still close.
 */
export class Closers {
  private readonly stack: Array<() => Promise<void> | void> = [];

  constructor(private readonly logger: Logger) {}

  push(close: () => Promise<void> | void): void {
    this.stack.push(close);
  }

  async closeAll(): Promise<void> {
    for (const close of this.stack.splice(0).reverse()) {
      try {
        await close();
      } catch (err) {
        this.logger.warn({ err }, "error while shutting down");
      }
    }
  }
}
