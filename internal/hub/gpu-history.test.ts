import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { Heartbeat } from "../proto/gen/gpunode/v1/gpunode.js";
import type { HubChannel } from "./channel/hub-channel.js";
import { GpuHistory, type GpuHistoryOptions, type GpuReading } from "./gpu-history.js";

const HOUR = 3_600_000;
const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const GIB = 1024 ** 3;

function gpu(index: number, over: Partial<GpuReading> = {}): GpuReading {
  return { index, uuid: `GPU-${index}`, name: "NVIDIA H100 80GB HBM3", error: "", utilizationGpuPercent: 10, memoryTotalBytes: 80 * GIB, memoryUsedBytes: GIB, temperatureCelsius: 40, ...over };
}

/** A history on a clock the test moves. */
function history(opts: Partial<GpuHistoryOptions> = {}) {
  const clock = { now: T0 };
  const h = new GpuHistory({ windowMs: HOUR, maxPoints: 240, maxGpusPerNode: 64, ...opts }, () => clock.now);
  return { h, clock };
}

describe("GpuHistory", () => {
  it("keeps each GPU's samples as they came, columnar, in the hub's time", () => {
    const { h, clock } = history();
    const sent = [
      [73, 12 * GIB, 61],
      [75, 13 * GIB, 62],
      [20, 2 * GIB, 55],
    ] as const;
    sent.forEach(([util, mem, temp], i) => {
      clock.now = T0 + i * 30_000;
      h.record("n1", [gpu(0, { utilizationGpuPercent: util, memoryUsedBytes: mem, temperatureCelsius: temp }), gpu(1, { utilizationGpuPercent: 100 - util, name: "NVIDIA A100" })]);
    });
    const got = h.get("n1");
    expect(got).toMatchObject({ nodeId: "n1", from: clock.now - HOUR, to: clock.now });
    expect(got.gpus.map((g) => [g.index, g.uuid, g.name, g.memoryTotalBytes])).toEqual([
      [0, "GPU-0", "NVIDIA H100 80GB HBM3", 80 * GIB],
      [1, "GPU-1", "NVIDIA A100", 80 * GIB],
    ]);
    expect(got.gpus[0]?.samples).toEqual({
      t: [T0, T0 + 30_000, T0 + 60_000],
      utilizationGpuPercent: [73, 75, 20],
      memoryUsedBytes: [12 * GIB, 13 * GIB, 2 * GIB],
      temperatureCelsius: [61, 62, 55],
    });
    expect(got.gpus[1]?.samples.utilizationGpuPercent).toEqual([27, 25, 80]);
  });

  it("answers an empty list for a node it never heard of, and for a node without GPUs", () => {
    const { h } = history();
    h.record("cpu-only", []);
    expect(h.get("cpu-only").gpus).toEqual([]);
    expect(h.get("nobody").gpus).toEqual([]);
    expect(h.nodeCount).toBe(0);
  });

  it("keeps only the last hour", () => {
    const { h, clock } = history();
    for (let i = 0; i <= 90; i++) {
      clock.now = T0 + i * 60_000;
      h.record("n1", [gpu(0, { utilizationGpuPercent: i })]);
    }
    const s = h.get("n1").gpus[0]?.samples;
    expect(s?.t[0]).toBe(T0 + 30 * 60_000);
    expect(s?.t.at(-1)).toBe(T0 + 90 * 60_000);
    expect(s?.utilizationGpuPercent).toHaveLength(61);
    // Read later, without new heartbeats: the window moves on.
    clock.now += 45 * 60_000;
    expect(h.get("n1").gpus[0]?.samples.t).toHaveLength(16);
  });

  it("keeps every sample of the default 30 s heartbeats for the hour, exactly", () => {
    const { h, clock } = history();
    for (let i = 0; i < 240; i++) {
      clock.now = T0 + i * 30_000;
      h.record("n1", [gpu(0, { utilizationGpuPercent: i % 101, memoryUsedBytes: i * 123_456_789, temperatureCelsius: 30 + (i % 60) })]);
    }
    const s = h.get("n1").gpus[0]?.samples;
    // The last 121 heartbeats lie within the hour (both ends included).
    const kept = Array.from({ length: 121 }, (_, k) => 119 + k);
    expect(s?.t).toEqual(kept.map((i) => T0 + i * 30_000));
    expect(s?.utilizationGpuPercent).toEqual(kept.map((i) => i % 101));
    expect(s?.memoryUsedBytes).toEqual(kept.map((i) => i * 123_456_789));
    expect(s?.temperatureCelsius).toEqual(kept.map((i) => 30 + (i % 60)));
  });

  it("holds at most maxPoints per GPU however fast the heartbeats come, and still spans the hour", () => {
    const { h, clock } = history();
    // One heartbeat a second for two hours: 7200 samples.
    for (let i = 0; i < 7_200; i++) {
      clock.now = T0 + i * 1_000;
      h.record("n1", [gpu(0, { utilizationGpuPercent: i % 2 === 0 ? 40 : 60, temperatureCelsius: 50, memoryUsedBytes: 2 * GIB })]);
      const size = h.get("n1").gpus[0]?.samples.t.length ?? 0;
      expect(size).toBeLessThanOrEqual(240);
    }
    const s = h.get("n1").gpus[0]?.samples;
    if (!s) throw new Error("no samples");
    expect(s.t[0]).toBeLessThan(clock.now - HOUR + 60_000);
    expect(s.t.at(-1)).toBe(clock.now);
    expect(s.t.every((t, i) => i === 0 || t > (s.t[i - 1] ?? 0))).toBe(true);
    // Merged points are means: 40 and 60 alternate, so a merged one lies between them.
    expect(s.utilizationGpuPercent.every((u) => u >= 40 && u <= 60)).toBe(true);
    expect(s.utilizationGpuPercent.some((u) => u > 45 && u < 55)).toBe(true);
    expect(new Set(s.temperatureCelsius)).toEqual(new Set([50]));
    expect(new Set(s.memoryUsedBytes)).toEqual(new Set([2 * GIB]));
  });

  it("adds no sample for a GPU that could not be read, and starts afresh when an index gets another GPU", () => {
    const { h, clock } = history();
    h.record("n1", [gpu(0, { utilizationGpuPercent: 50 })]);
    clock.now += 30_000;
    h.record("n1", [gpu(0, { error: "GPU is lost", utilizationGpuPercent: 0, temperatureCelsius: 0 })]);
    expect(h.get("n1").gpus[0]?.samples.utilizationGpuPercent).toEqual([50]);
    clock.now += 30_000;
    h.record("n1", [gpu(0, { uuid: "GPU-new", name: "NVIDIA L4", utilizationGpuPercent: 5 })]);
    const g = h.get("n1").gpus[0];
    expect([g?.uuid, g?.name, g?.samples.utilizationGpuPercent]).toEqual(["GPU-new", "NVIDIA L4", [5]]);
  });

  it("forgets a node silent for the whole window, and bounds the GPUs a node may report", () => {
    const { h, clock } = history({ maxGpusPerNode: 4 });
    h.record("gone", [gpu(0)]);
    h.record("many", Array.from({ length: 10 }, (_, i) => gpu(i)));
    expect(h.get("many").gpus.map((g) => g.index)).toEqual([0, 1, 2, 3]);
    clock.now += 40 * 60_000;
    h.record("many", [gpu(0)]);
    expect(h.nodeCount).toBe(2);
    clock.now += 21 * 60_000;
    h.record("many", [gpu(0)]);
    expect(h.nodeCount).toBe(1);
    expect(h.get("gone").gpus).toEqual([]);
    expect(h.get("many").gpus.map((g) => g.index)).toEqual([0]);
  });

  it("is fed by the channel's heartbeat event until detached", () => {
    const { h } = history();
    const events = new EventEmitter() as HubChannel["events"];
    const detach = h.attach(events);
    const hb = Heartbeat.fromPartial({ nodeId: "n1", seq: 1, gpus: [{ index: 0, uuid: "GPU-0", name: "NVIDIA H100", utilizationGpuPercent: 73, memoryUsedBytes: 5 * GIB, memoryTotalBytes: 80 * GIB, temperatureCelsius: 61 }] });
    events.emit("heartbeat", "n1", hb);
    expect(h.get("n1").gpus[0]?.samples.temperatureCelsius).toEqual([61]);
    detach();
    events.emit("heartbeat", "n1", hb);
    expect(h.get("n1").gpus[0]?.samples.temperatureCelsius).toEqual([61]);
  });
});
