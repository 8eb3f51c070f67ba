import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildFakeNvml } from "../../test/fixtures/nvml/build-fake-nvml.js";
import { fakeNvmlCounter, type FakeNvmlCounter } from "../../test/fixtures/nvml/fake-nvml-calls.js";
import {
  fakeGpu,
  fakeNvmlConfig,
  H100_MEMORY_BYTES,
  writeFakeNvmlConfig,
  type FakeNvmlConfig,
} from "../../test/fixtures/nvml/fake-nvml-config.js";
import { NvmlGpuSource } from "./nvml-gpu-source.js";

let lib: string;
let dir: string;
let configPath: string;
let calls: (name: FakeNvmlCounter) => number;
const open: NvmlGpuSource[] = [];

beforeAll(async () => {
  lib = await buildFakeNvml();
  dir = await mkdtemp(join(tmpdir(), "nvml-source-"));
  configPath = join(dir, "nvml.json");
  process.env.FAKE_NVML_CONFIG = configPath;
  calls = fakeNvmlCounter(lib);
});

afterEach(async () => {
  for (const source of open.splice(0)) await source.close();
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function openSource(config: FakeNvmlConfig): Promise<NvmlGpuSource> {
  await writeFakeNvmlConfig(configPath, config);
  const res = await NvmlGpuSource.open({ libraryPath: lib });
  if (!res.ok) throw new Error(`NVML stand-in did not open: ${res.reason}`);
  open.push(res.source);
  return res.source;
}

describe("NvmlGpuSource against the NVML stand-in", () => {
  it("reports a machine with no GPUs, with its driver and CUDA versions", async () => {
    const source = await openSource(fakeNvmlConfig(0));
    expect(source.kind).toBe("nvml");
    expect(await source.sample()).toEqual({ gpus: [], driverVersion: "550.54.15", cudaDriverVersion: "12.4" });
  });

  it("reads every field of one GPU", async () => {
    const source = await openSource(
      fakeNvmlConfig(1, {
        driver: "535.183.01",
        cuda: 12020,
        gpus: [
          fakeGpu(0, {
            uuid: "GPU-5fd4c0a1-0000-1111-2222-333344445555",
            name: "NVIDIA A100-SXM4-80GB",
            pci: "00000000:CA:00.0",
            mem_total: 85_899_345_920,
            mem_used: 4_294_967_296,
            util_gpu: 97,
            util_mem: 61,
            temp: 71,
            power: 312_456,
            power_limit: 400_000,
          }),
        ],
      }),
    );
    expect(await source.sample()).toEqual({
      driverVersion: "535.183.01",
      cudaDriverVersion: "12.2",
      gpus: [
        {
          index: 0,
          uuid: "GPU-5fd4c0a1-0000-1111-2222-333344445555",
          name: "NVIDIA A100-SXM4-80GB",
          pciBusId: "00000000:CA:00.0",
          healthy: true,
          memoryTotalBytes: 85_899_345_920,
          memoryUsedBytes: 4_294_967_296,
          memoryFreeBytes: 85_899_345_920 - 4_294_967_296,
          utilizationGpuPercent: 97,
          utilizationMemoryPercent: 61,
          temperatureCelsius: 71,
          powerDrawMilliwatts: 312_456,
          powerLimitMilliwatts: 400_000,
        },
      ],
    });
  });

  it("reports eight GPUs in index order", async () => {
    const config = fakeNvmlConfig(8);
    const source = await openSource(config);
    const { gpus } = await source.sample();
    expect(gpus.map((g) => g.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(gpus.map((g) => g.uuid)).toEqual(config.gpus.map((g) => g.uuid));
    expect(gpus.map((g) => g.pciBusId)).toEqual(config.gpus.map((g) => g.pci));
    expect(gpus.every((g) => g.healthy && g.memoryTotalBytes === H100_MEMORY_BYTES)).toBe(true);
    expect(gpus[7]).toMatchObject({ utilizationGpuPercent: 17, temperatureCelsius: 42, powerDrawMilliwatts: 77_000 });
  });

  it("reports a lost GPU as unhealthy with NVML's error text while the others still report", async () => {
    const config = fakeNvmlConfig(4);
    config.gpus[2] = fakeGpu(2, { error: 15 });
    const source = await openSource(config);
    const { gpus } = await source.sample();
    expect(gpus).toHaveLength(4);
    expect(gpus[2]).toMatchObject({ index: 2, healthy: false, error: "GPU is lost", utilizationGpuPercent: 0 });
    for (const i of [0, 1, 3]) {
      expect(gpus[i]).toMatchObject({ index: i, healthy: true, uuid: config.gpus[i]?.uuid, utilizationGpuPercent: 10 + i });
      expect(gpus[i]?.error).toBeUndefined();
    }
  });

  it("keeps a GPU's identity when it is lost after a healthy poll, and recovers it", async () => {
    const config = fakeNvmlConfig(2);
    const source = await openSource(config);
    await source.sample();
    config.gpus[1] = { ...fakeGpu(1), error: 15 };
    await writeFakeNvmlConfig(configPath, config);
    const lost = (await source.sample()).gpus[1];
    expect(lost).toMatchObject({ healthy: false, error: "GPU is lost", uuid: config.gpus[1]?.uuid, name: "NVIDIA H100 80GB HBM3", powerLimitMilliwatts: 700_000 });
    config.gpus[1] = fakeGpu(1);
    await writeFakeNvmlConfig(configPath, config);
    expect((await source.sample()).gpus[1]).toMatchObject({ healthy: true, utilizationGpuPercent: 11 });
  });

  it("reads a metric the GPU does not support as 0 without marking it unhealthy", async () => {
    const source = await openSource(fakeNvmlConfig(1, { gpus: [fakeGpu(0, { power: -1, power_limit: -1, temp: -1 })] }));
    expect((await source.sample()).gpus[0]).toMatchObject({
      healthy: true,
      powerDrawMilliwatts: 0,
      powerLimitMilliwatts: 0,
      temperatureCelsius: 0,
      utilizationGpuPercent: 10,
    });
  });

  it("sees values change between polls, and a GPU appear, reading static facts once per GPU", async () => {
    const config = fakeNvmlConfig(2);
    const source = await openSource(config);
    const uuidsBefore = calls("uuid");
    const powerLimitsBefore = calls("power_limit");

    const first = await source.sample();
    config.gpus[0] = fakeGpu(0, { util_gpu: 99, util_mem: 80, mem_used: 70 * 1024 ** 3, temp: 80, power: 650_000 });
    config.gpus.push(fakeGpu(2));
    await writeFakeNvmlConfig(configPath, config);
    const second = await source.sample();
    await source.sample();

    expect(first.gpus).toHaveLength(2);
    expect(first.gpus[0]).toMatchObject({ utilizationGpuPercent: 10, temperatureCelsius: 35 });
    expect(second.gpus).toHaveLength(3);
    expect(second.gpus[0]).toMatchObject({
      utilizationGpuPercent: 99,
      utilizationMemoryPercent: 80,
      memoryUsedBytes: 70 * 1024 ** 3,
      memoryFreeBytes: H100_MEMORY_BYTES - 70 * 1024 ** 3,
      temperatureCelsius: 80,
      powerDrawMilliwatts: 650_000,
    });
    expect(second.gpus[2]).toMatchObject({ index: 2, healthy: true, uuid: config.gpus[2]?.uuid });
    // Three polls, three GPUs: uuid and power limit were read once each.
    expect(calls("uuid") - uuidsBefore).toBe(3);
    expect(calls("power_limit") - powerLimitsBefore).toBe(3);
  });

  it("initialises NVML once per process and shuts it down when the last source closes", async () => {
    await writeFakeNvmlConfig(configPath, fakeNvmlConfig(1));
    const initsBefore = calls("init");
    const shutdownsBefore = calls("shutdown");
    const [a, b] = await Promise.all([NvmlGpuSource.open({ libraryPath: lib }), NvmlGpuSource.open({ libraryPath: lib })]);
    if (!a?.ok || !b?.ok) throw new Error("stand-in did not open");
    expect(calls("init") - initsBefore).toBe(1);
    expect(calls("initialised")).toBe(1);

    await a.source.close();
    expect(calls("shutdown") - shutdownsBefore).toBe(0);
    expect((await b.source.sample()).gpus).toHaveLength(1);
    await b.source.close();
    await b.source.close();
    expect(calls("shutdown") - shutdownsBefore).toBe(1);
    expect(calls("initialised")).toBe(0);
    await expect(a.source.sample()).rejects.toThrow(/closed/);
  });

  it("stops at an aborted signal", async () => {
    const source = await openSource(fakeNvmlConfig(1));
    const ctl = new AbortController();
    ctl.abort(new Error("stopping"));
    await expect(source.sample(ctl.signal)).rejects.toThrow("stopping");
  });
});
