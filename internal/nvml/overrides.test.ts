import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildFakeNvml } from "../../test/fixtures/nvml/build-fake-nvml.js";
import { fakeNvmlConfig, writeFakeNvmlConfig } from "../../test/fixtures/nvml/fake-nvml-config.js";
import { NoGpuSource, type GpuSample, type GpuSnapshot } from "../gpu/gpu-source.js";
import { NvmlGpuSource } from "./nvml-gpu-source.js";
import { applyGpuOverrides, withGpuOverrides, type GpuOverrideOptions } from "./overrides.js";

const GIB = 1024 ** 3;

function gpu(index: number, name: string, totalGiB: number, usedGiB: number): GpuSample {
  return {
    index,
    uuid: `GPU-${index}`,
    name,
    pciBusId: `00000000:0${index}:00.0`,
    healthy: true,
    memoryTotalBytes: totalGiB * GIB,
    memoryUsedBytes: usedGiB * GIB,
    memoryFreeBytes: (totalGiB - usedGiB) * GIB,
    utilizationGpuPercent: 5,
    utilizationMemoryPercent: 1,
    temperatureCelsius: 40,
    powerDrawMilliwatts: 60_000,
    powerLimitMilliwatts: 300_000,
  };
}

const snapshot: GpuSnapshot = {
  driverVersion: "550.54.15",
  cudaDriverVersion: "12.4",
  gpus: [gpu(0, "NVIDIA RTX A6000", 48, 2), gpu(1, "NVIDIA RTX A6000", 48, 47)],
};

describe("applyGpuOverrides", () => {
  const cases: { name: string; opts: GpuOverrideOptions; names: string[]; totals: number[]; frees: number[] }[] = [
    { name: "none set", opts: {}, names: ["NVIDIA RTX A6000", "NVIDIA RTX A6000"], totals: [48 * GIB, 48 * GIB], frees: [46 * GIB, 1 * GIB] },
    { name: "-gpu-type", opts: { gpuType: "RTX-A6000" }, names: ["RTX-A6000", "RTX-A6000"], totals: [48 * GIB, 48 * GIB], frees: [46 * GIB, 1 * GIB] },
    { name: "-memory-gb", opts: { memoryGb: 40 }, names: ["NVIDIA RTX A6000", "NVIDIA RTX A6000"], totals: [40 * GIB, 40 * GIB], frees: [38 * GIB, 0] },
    { name: "both", opts: { gpuType: "A6000", memoryGb: 0.5 }, names: ["A6000", "A6000"], totals: [GIB / 2, GIB / 2], frees: [0, 0] },
    { name: "empty -gpu-type", opts: { gpuType: "" }, names: ["NVIDIA RTX A6000", "NVIDIA RTX A6000"], totals: [48 * GIB, 48 * GIB], frees: [46 * GIB, 1 * GIB] },
  ];
  it.each(cases)("$name", ({ opts, names, totals, frees }) => {
    const out = applyGpuOverrides(snapshot, opts);
    expect(out.gpus.map((g) => g.name)).toEqual(names);
    expect(out.gpus.map((g) => g.memoryTotalBytes)).toEqual(totals);
    expect(out.gpus.map((g) => g.memoryFreeBytes)).toEqual(frees);
    expect(out.gpus.map((g) => g.memoryUsedBytes)).toEqual([2 * GIB, 47 * GIB]);
    expect(out.driverVersion).toBe("550.54.15");
  });

  it("leaves its input alone", () => {
    applyGpuOverrides(snapshot, { gpuType: "X", memoryGb: 1 });
    expect(snapshot.gpus[0]?.name).toBe("NVIDIA RTX A6000");
  });
});

describe("withGpuOverrides", () => {
  let dir: string;
  let lib: string;

  beforeAll(async () => {
    lib = await buildFakeNvml();
    dir = await mkdtemp(join(tmpdir(), "gpu-overrides-"));
    process.env.FAKE_NVML_CONFIG = join(dir, "nvml.json");
    await writeFakeNvmlConfig(process.env.FAKE_NVML_CONFIG, fakeNvmlConfig(3));
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("applies the flags to every GPU an NVML source reports", async () => {
    const res = await NvmlGpuSource.open({ libraryPath: lib });
    if (!res.ok) throw new Error(res.reason);
    const source = withGpuOverrides(res.source, { gpuType: "H100-80G", memoryGb: 80 });
    try {
      expect(source.kind).toBe("nvml");
      const { gpus } = await source.sample();
      expect(gpus).toHaveLength(3);
      for (const g of gpus) expect(g).toMatchObject({ name: "H100-80G", memoryTotalBytes: 80 * GIB, healthy: true });
    } finally {
      await source.close();
    }
  });

  it("returns the source itself when no flag is set, and rejects a bad -memory-gb", () => {
    const none = new NoGpuSource();
    expect(withGpuOverrides(none, {})).toBe(none);
    expect(() => withGpuOverrides(none, { memoryGb: 0 })).toThrow(RangeError);
    expect(() => withGpuOverrides(none, { memoryGb: Number.NaN })).toThrow(/-memory-gb/);
  });
});
