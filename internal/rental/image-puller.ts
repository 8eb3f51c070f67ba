import { CommandFailure } from "../channel/command-dispatcher.js";
import type { ContainerEngine } from "../container/engine.js";
import { ContainerError } from "../container/errors.js";
import type { Logger } from "../log/logger.js";
import type { DaemonMetrics } from "../metrics/daemon-metrics.js";
import { PullTotaller, type PullTotals } from "./pull-totals.js";
import { untilAborted } from "../util/abort.js";

export interface ImagePullerOptions {
  /** Give up when the registry sends nothing for this long (a slow pull that progresses goes on). */
  stallTimeoutMs: number;
  /** Progress reports per image at most this often. */
  reportEveryMs: number;
}

interface Pull {
  done: Promise<void>;
  waiters: number;
  abort: AbortController;
}

/**
 * Pulls images once however many rentals wait for them, reporting progress as it comes. A waiter
 * whose signal aborts (a rental stopped while pulling) leaves at once; the pull itself is abandoned
 * when nobody waits for it any more.
 */
export class ImagePuller {
  private readonly inFlight = new Map<string, Pull>();
  private readonly progressListeners = new Map<string, Set<(p: PullTotals) => void>>();

  constructor(
    private readonly opts: ImagePullerOptions,
    private readonly deps: { engine: ContainerEngine; logger: Logger; metrics: DaemonMetrics | null },
  ) {}

  /** Resolves when the image is present. onProgress hears the pull's totals over all layers, throttled. */
  async ensure(image: string, onProgress: (p: PullTotals) => void, signal?: AbortSignal): Promise<void> {
    if (await this.deps.engine.imageExists(image, signal)) return;
    signal?.throwIfAborted();
    const pull = this.inFlight.get(image) ?? this.begin(image);
    const listeners = this.listeners(image);
    listeners.add(onProgress);
    pull.waiters++;
    try {
      await (signal ? untilAborted(pull.done, signal) : pull.done);
    } finally {
      listeners.delete(onProgress);
      if (--pull.waiters === 0 && signal?.aborted) pull.abort.abort(new CommandFailure("cancelled", `nobody waits for image ${image} any more`));
    }
  }

  private begin(image: string): Pull {
    const abort = new AbortController();
    const done = this.pull(image, abort.signal).finally(() => this.inFlight.delete(image));
    // Abandoned pulls reject with nobody listening: that is expected, not an unhandled rejection.
    done.catch(() => undefined);
    const pull = { done, waiters: 0, abort };
    this.inFlight.set(image, pull);
    return pull;
  }

  private listeners(image: string): Set<(p: PullTotals) => void> {
    let set = this.progressListeners.get(image);
    if (!set) this.progressListeners.set(image, (set = new Set()));
    return set;
  }

  private async pull(image: string, signal: AbortSignal): Promise<void> {
    const log = this.deps.logger.child({ image });
    const started = Date.now();
    let lastReport = 0;
    log.info("pulling image");
    try {
      const totals = new PullTotaller();
      await this.deps.engine.pullImage(image, {
        signal,
        stallTimeoutMs: this.opts.stallTimeoutMs,
        onProgress: (p) => {
          totals.add(p);
          const now = Date.now();
          if (now - lastReport < this.opts.reportEveryMs) return;
          lastReport = now;
          const t = totals.totals;
          log.debug({ ...t }, "pull progress");
          for (const l of this.listeners(image)) l(t);
        },
      });
      // The last word: all of it, whatever the throttle let through before.
      for (const l of this.listeners(image)) l({ ...totals.totals, status: "Pull complete" });
      log.info({ seconds: (Date.now() - started) / 1000 }, "image pulled");
      this.deps.metrics?.imagePullSeconds.observe({ outcome: "ok" }, (Date.now() - started) / 1000);
    } catch (err) {
      if (signal.aborted) {
        log.info("image pull abandoned: no rental waits for it");
        throw signal.reason;
      }
      const code = err instanceof ContainerError ? err.code : "pull_failed";
      const why = err instanceof Error ? err.message : String(err);
      log.warn({ code, reason: why }, "image pull failed");
      const outcome = code === "pull_stalled" ? "pull_stalled" : "image_unavailable";
      this.deps.metrics?.imagePullSeconds.observe({ outcome }, (Date.now() - started) / 1000);
      throw new CommandFailure(outcome, `image ${image} could not be pulled: ${why}`);
    } finally {
      this.progressListeners.delete(image);
    }
  }
}

