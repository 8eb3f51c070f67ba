import { CommandFailure } from "../channel/command-dispatcher.js";
import type { ContainerEngine, PullProgress } from "../container/engine.js";
import { ContainerError } from "../container/errors.js";
import type { Logger } from "../log/logger.js";
import type { DaemonMetrics } from "../metrics/daemon-metrics.js";

export interface ImagePullerOptions {
  /** Give up when the registry sends nothing for this long (a slow pull that progresses goes on). */
  stallTimeoutMs: number;
  /** Progress reports per image at most this often. */
  reportEveryMs: number;
}

/** Pulls images once however many rentals wait for them, reporting progress as it comes. */
export class ImagePuller {
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly progressListeners = new Map<string, Set<(p: PullProgress) => void>>();

  constructor(
    private readonly opts: ImagePullerOptions,
    private readonly deps: { engine: ContainerEngine; logger: Logger; metrics: DaemonMetrics | null },
  ) {}

  /** Resolves when the image is present. onProgress hears this pull's progress, throttled. */
  async ensure(image: string, onProgress: (p: PullProgress) => void, signal?: AbortSignal): Promise<void> {
    if (await this.deps.engine.imageExists(image, signal)) return;
    let pull = this.inFlight.get(image);
    const listeners = this.listeners(image);
    listeners.add(onProgress);
    if (!pull) {
      pull = this.pull(image).finally(() => this.inFlight.delete(image));
      this.inFlight.set(image, pull);
    }
    try {
      await pull;
    } finally {
      listeners.delete(onProgress);
    }
  }

  private listeners(image: string): Set<(p: PullProgress) => void> {
    let set = this.progressListeners.get(image);
    if (!set) this.progressListeners.set(image, (set = new Set()));
    return set;
  }

  private async pull(image: string): Promise<void> {
    const log = this.deps.logger.child({ image });
    const started = Date.now();
    let lastReport = 0;
    log.info("pulling image");
    try {
      await this.deps.engine.pullImage(image, {
        stallTimeoutMs: this.opts.stallTimeoutMs,
        onProgress: (p) => {
          const now = Date.now();
          if (now - lastReport < this.opts.reportEveryMs) return;
          lastReport = now;
          log.info({ status: p.status, currentBytes: p.currentBytes, totalBytes: p.totalBytes }, "pull progress");
          for (const l of this.listeners(image)) l(p);
        },
      });
      log.info({ seconds: (Date.now() - started) / 1000 }, "image pulled");
      this.deps.metrics?.imagePullSeconds.observe({ outcome: "ok" }, (Date.now() - started) / 1000);
    } catch (err) {
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
