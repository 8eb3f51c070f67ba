// Real pulls from the local registry of test/setup/registry.sh through the real engine: progress,
// one pull for many waiters, a missing image, and a pull the registry stops answering (SIGSTOP).
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lockRegistry, REGISTRY, removeImage, requireRegistry } from "../../test/support/registry.js";
import { CommandFailure } from "../channel/command-dispatcher.js";
import { DockerodeEngine } from "../container/dockerode-engine.js";
import type { PullOptions } from "../container/engine.js";
import type { PullTotals } from "./pull-totals.js";
import { ImagePuller } from "./image-puller.js";

const SMALL = `${REGISTRY}/gpunode-test/busybox:latest`;
const BIG = `${REGISTRY}/gpunode-test/big:latest`;
const MISSING = `${REGISTRY}/gpunode-test/nope:1`;
const STALL_TIMEOUT_MS = 2_000;
const logger = pino({ level: "silent" });

/** The real engine, counting the pulls it is asked for. */
class CountingEngine extends DockerodeEngine {
  pulls = 0;

  override async pullImage(ref: string, opts: PullOptions): Promise<void> {
    this.pulls++;
    return super.pullImage(ref, opts);
  }
}

describe("ImagePuller against a real registry", () => {
  const engine = new DockerodeEngine();
  let registryPid: number | undefined;
  let unlock: (() => void) | undefined;

  beforeAll(async () => {
    registryPid = await requireRegistry();
    // The other registry test file SIGSTOPs the same registry: never run beside it.
    unlock = await lockRegistry();
  }, 180_000);

  afterAll(async () => {
    if (registryPid === undefined) return; // no registry: nothing was pulled
    process.kill(registryPid, "SIGCONT");
    await Promise.all([SMALL, BIG].map(removeImage));
    unlock?.();
  });

  it("pulls an image the engine lacks, and the caller hears the pull's progress", async () => {
    await removeImage(SMALL);
    const puller = new ImagePuller({ stallTimeoutMs: STALL_TIMEOUT_MS, reportEveryMs: 0 }, { engine, logger, metrics: null });
    const heard: PullTotals[] = [];
    await puller.ensure(SMALL, (p) => heard.push(p));
    expect(await engine.imageExists(SMALL)).toBe(true);
    expect(heard.map((p) => p.status)).toEqual(expect.arrayContaining(["Downloading", "Pull complete"]));
    // Totals over the image's layers, rising to all of it.
    const last = heard.at(-1)!;
    expect(last.totalBytes).toBeGreaterThan(0);
    expect(last).toMatchObject({ currentBytes: last.totalBytes, layersDone: last.layersTotal });
    expect(last.layersTotal).toBeGreaterThanOrEqual(1);
    const bytes = heard.map((p) => p.currentBytes);
    expect(bytes).toEqual([...bytes].sort((a, b) => a - b));
  });

  it("pulls once for two callers waiting for the same image, and not at all once it is there", async () => {
    await removeImage(SMALL);
    const counting = new CountingEngine();
    const puller = new ImagePuller({ stallTimeoutMs: STALL_TIMEOUT_MS, reportEveryMs: 0 }, { engine: counting, logger, metrics: null });
    const heard: PullTotals[] = [];
    await Promise.all([puller.ensure(SMALL, (p) => heard.push(p)), puller.ensure(SMALL, () => {})]);
    expect(counting.pulls).toBe(1);
    expect(heard.length).toBeGreaterThan(0);
    await puller.ensure(SMALL, () => {});
    expect(counting.pulls).toBe(1);
  });

  it("fails with image_unavailable, naming the image, when the registry does not have it", async () => {
    const puller = new ImagePuller({ stallTimeoutMs: STALL_TIMEOUT_MS, reportEveryMs: 0 }, { engine, logger, metrics: null });
    const err = await puller.ensure(MISSING, () => {}).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(CommandFailure);
    expect(err).toMatchObject({ code: "image_unavailable", message: expect.stringContaining(MISSING) });
  });

  it("gives up with pull_stalled about the stall timeout after the registry goes silent mid-pull", async () => {
    const pid = registryPid!;
    await removeImage(BIG);
    const puller = new ImagePuller({ stallTimeoutMs: STALL_TIMEOUT_MS, reportEveryMs: 0 }, { engine, logger, metrics: null });
    let stoppedAt: number | undefined;
    try {
      const err = await puller
        .ensure(BIG, (p) => {
          // Bytes of the big layer are flowing: the registry freezes mid-answer.
          if (stoppedAt !== undefined || p.status !== "Downloading" || !p.currentBytes) return;
          process.kill(pid, "SIGSTOP");
          stoppedAt = Date.now();
        })
        .then(() => undefined, (e: unknown) => e);
      const waitedMs = Date.now() - (stoppedAt ?? NaN);
      expect(stoppedAt, "the pull never reported progress").toBeDefined();
      expect(err).toBeInstanceOf(CommandFailure);
      expect(err).toMatchObject({ code: "pull_stalled", message: expect.stringContaining(BIG) });
      // The watchdog measures silence: at least the timeout, and not some fixed total.
      expect(waitedMs).toBeGreaterThanOrEqual(STALL_TIMEOUT_MS);
      expect(waitedMs).toBeLessThan(10_000);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    expect(await engine.imageExists(BIG)).toBe(false);
  });
});
