import { NodeTimeoutError } from "../channel/node-session.js";

/** An AbortSignal that fires after `quietMs` without heard(): a deadline that moves while there is news. */
export class SilenceWatch {
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly quietMs: number,
    private readonly why: string,
  ) {
    this.heard();
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  heard(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.abort.abort(new NodeTimeoutError(this.why)), this.quietMs);
    this.timer.unref();
  }

  close(): void {
    clearTimeout(this.timer);
  }
}
