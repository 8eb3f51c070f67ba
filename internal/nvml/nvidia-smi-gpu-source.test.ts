import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { installFakeNvidiaSmi } from "../../test/fixtures/nvml/fake-nvidia-smi.js";
import { fakeGpu, fakeNvmlConfig, nvidiaSmiCsv } from "../../test/fixtures/nvml/fake-nvml-config.js";
import { NvidiaSmiError, NvidiaSmiGpuSource, parseCudaVersion, parseNvidiaSmiCsv } from "./nvidia-smi-gpu-source.js";

const MIB = 1024 * 1024;

describe("parseNvidiaSmiCsv", () => {
  it("converts MiB to bytes and W to mW", () => {
    const { gpus, driverVersion } = parseNvidiaSmiCsv(
      "0, GPU-aaaa, NVIDIA H100 80GB HBM3, 00000000:17:00.0, 81559, 1024, 80535, 37, 4, 41, 68.52, 700.00, 550.54.15\n",
    );
    expect(driverVersion).toBe("550.54.15");
    expect(gpus).toEqual([
      {
        index: 0,
        uuid: "GPU-aaaa",
        name: "NVIDIA H100 80GB HBM3",
        pciBusId: "00000000:17:00.0",
        healthy: true,
        memoryTotalBytes: 81559 * MIB,
        memoryUsedBytes: 1024 * MIB,
        memoryFreeBytes: 80535 * MIB,
        utilizationGpuPercent: 37,
        utilizationMemoryPercent: 4,
        temperatureCelsius: 41,
        powerDrawMilliwatts: 68_520,
        powerLimitMilliwatts: 700_000,
      },
    ]);
  });

  it("reads [N/A] and [Not Supported] as 0 without marking the GPU unhealthy", () => {
    const { gpus } = parseNvidiaSmiCsv(
      "0, GPU-bbbb, NVIDIA GeForce RTX 3090, 00000000:01:00.0, 24576, 300, 24276, [N/A], [Not Supported], 50, [N/A], [Not Supported], 535.183.01\n" +
        "1, GPU-cccc, Tesla T4, 00000000:02:00.0, 15360, 0, 15360, 0, 0, N/A, 9.95, 70.00, 535.183.01\n",
    );
    expect(gpus[0]).toMatchObject({ healthy: true, utilizationGpuPercent: 0, utilizationMemoryPercent: 0, powerDrawMilliwatts: 0, powerLimitMilliwatts: 0, temperatureCelsius: 50 });
    expect(gpus[0]?.error).toBeUndefined();
    expect(gpus[1]).toMatchObject({ healthy: true, temperatureCelsius: 0, powerDrawMilliwatts: 9_950 });
  });

  it("marks a GPU nvidia-smi could not read as unhealthy with its error text", () => {
    const { gpus } = parseNvidiaSmiCsv(
      "0, GPU-aaaa, NVIDIA H100 80GB HBM3, 00000000:17:00.0, 81559, 0, 81559, 0, 0, 30, 60.00, 700.00, 550.54.15\n" +
        "1, [GPU is lost], [GPU is lost], 00000000:18:00.0, [GPU is lost], [GPU is lost], [GPU is lost], [GPU is lost], [GPU is lost], [GPU is lost], [GPU is lost], [GPU is lost], 550.54.15\n",
    );
    expect(gpus[0]?.healthy).toBe(true);
    expect(gpus[1]).toMatchObject({ index: 1, healthy: false, error: "GPU is lost", uuid: "", pciBusId: "00000000:18:00.0", memoryTotalBytes: 0 });
  });

  it("keeps a GPU name that contains a comma", () => {
    const { gpus } = parseNvidiaSmiCsv("0, GPU-x, Board, Rev 2, 0000:01:00.0, 1, 0, 1, 0, 0, 30, 1.00, 2.00, 550\n");
    expect(gpus[0]).toMatchObject({ name: "Board, Rev 2", pciBusId: "0000:01:00.0", powerLimitMilliwatts: 2000 });
  });

  it("reads no output as no GPUs and rejects rows it cannot read", () => {
    expect(parseNvidiaSmiCsv("\n")).toEqual({ gpus: [], driverVersion: "" });
    expect(() => parseNvidiaSmiCsv("No devices were found\n")).toThrow(NvidiaSmiError);
  });

  it("finds the CUDA version in the header and in --version output", () => {
    expect(parseCudaVersion("| NVIDIA-SMI 550.54.15   Driver Version: 550.54.15   CUDA Version: 12.4     |")).toBe("12.4");
    expect(parseCudaVersion("DRIVER version      : 550.54.15\nCUDA Version        : 12.4\n")).toBe("12.4");
    expect(parseCudaVersion("nothing here")).toBe("");
  });
});

describe("NvidiaSmiGpuSource against the nvidia-smi stand-in", () => {
  let dir: string;
  let smi: string;
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "nvidia-smi-"));
    smi = await installFakeNvidiaSmi(join(dir, "bin"));
  });

  afterEach(() => {
    for (const key of ["FAKE_NVIDIA_SMI_CSV", "FAKE_NVIDIA_SMI_CUDA", "FAKE_NVIDIA_SMI_FAIL"]) {
      if (savedEnv[key] === undefined) delete process.env[key];
      else process.env[key] = savedEnv[key];
    }
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("reads the GPUs and the CUDA version", async () => {
    const config = fakeNvmlConfig(2);
    config.gpus[1] = fakeGpu(1, { power: -1 });
    const csv = join(dir, "two.csv");
    await writeFile(csv, nvidiaSmiCsv(config));
    process.env.FAKE_NVIDIA_SMI_CSV = csv;
    process.env.FAKE_NVIDIA_SMI_CUDA = "12.6";

    const source = new NvidiaSmiGpuSource({ path: smi });
    const snapshot = await source.sample();
    expect(source.kind).toBe("nvidia-smi");
    expect(snapshot.driverVersion).toBe("550.54.15");
    expect(snapshot.cudaDriverVersion).toBe("12.6");
    expect(snapshot.gpus.map((g) => g.uuid)).toEqual(config.gpus.map((g) => g.uuid));
    expect(snapshot.gpus[0]).toMatchObject({ healthy: true, memoryTotalBytes: config.gpus[0]?.mem_total, powerDrawMilliwatts: 70_000, powerLimitMilliwatts: 700_000 });
    expect(snapshot.gpus[1]).toMatchObject({ healthy: true, powerDrawMilliwatts: 0 });
  });

  it("explains a failing nvidia-smi with its own first line", async () => {
    process.env.FAKE_NVIDIA_SMI_FAIL = "1";
    const err = await new NvidiaSmiGpuSource({ path: smi }).sample().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NvidiaSmiError);
    expect(err).toMatchObject({ code: "failed" });
    expect((err as Error).message).toMatch(/exit 9.*couldn't communicate with the NVIDIA driver/);
  });

  it("reports a missing executable as not found", async () => {
    const err = await new NvidiaSmiGpuSource({ path: join(dir, "missing", "nvidia-smi") }).sample().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "not-found" });
  });

  it("gives up after its timeout and stops at an aborted signal", async () => {
    const slow = join(dir, "slow-smi");
    await writeFile(slow, "#!/bin/sh\nexec sleep 5\n", { mode: 0o755 });
    const timedOut = await new NvidiaSmiGpuSource({ path: slow, timeoutMs: 200 }).sample().catch((e: unknown) => e);
    expect(timedOut).toMatchObject({ code: "timeout" });

    const ctl = new AbortController();
    const pending = new NvidiaSmiGpuSource({ path: slow }).sample(ctl.signal);
    ctl.abort(new Error("shutting down"));
    await expect(pending).rejects.toThrow("shutting down");
  });
});
