import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildFakeNvml } from "../../test/fixtures/nvml/build-fake-nvml.js";
import { installFakeNvidiaSmi } from "../../test/fixtures/nvml/fake-nvidia-smi.js";
import { fakeNvmlConfig, nvidiaSmiCsv, writeFakeNvmlConfig } from "../../test/fixtures/nvml/fake-nvml-config.js";
import type { GpuSource } from "../gpu/gpu-source.js";
import { detectGpuSource } from "./detect-gpu-source.js";

let lib: string;
let dir: string;
let configPath: string;
let smi: string;
const sources: GpuSource[] = [];

beforeAll(async () => {
  lib = await buildFakeNvml();
  dir = await mkdtemp(join(tmpdir(), "detect-gpu-"));
  configPath = join(dir, "nvml.json");
  process.env.FAKE_NVML_CONFIG = configPath;
  smi = await installFakeNvidiaSmi(join(dir, "bin"));
  const csv = join(dir, "smi.csv");
  await writeFile(csv, nvidiaSmiCsv(fakeNvmlConfig(2)));
  process.env.FAKE_NVIDIA_SMI_CSV = csv;
});

afterEach(async () => {
  delete process.env.FAKE_NVIDIA_SMI_FAIL;
  for (const source of sources.splice(0)) await source.close();
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A real pino logger writing JSON lines into an array. */
function captureLogger(): { logger: pino.Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n")) if (line) lines.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  });
  return { logger: pino({ level: "debug" }, stream), lines };
}

async function detect(opts: { nvmlLibraryPath: string; nvidiaSmiPath: string }) {
  const { logger, lines } = captureLogger();
  const detected = await detectGpuSource({ ...opts, logger });
  sources.push(detected.source);
  return { ...detected, lines };
}

describe("detectGpuSource", () => {
  it("uses NVML when it loads and answers", async () => {
    await writeFakeNvmlConfig(configPath, fakeNvmlConfig(8));
    const { source, notice } = await detect({ nvmlLibraryPath: lib, nvidiaSmiPath: smi });
    expect(source.kind).toBe("nvml");
    expect(notice).toBeUndefined();
    expect((await source.sample()).gpus).toHaveLength(8);
  });

  it("falls back to nvidia-smi when nvmlInit fails", async () => {
    await writeFakeNvmlConfig(configPath, fakeNvmlConfig(8, { init_error: 9 }));
    const { source, notice, lines } = await detect({ nvmlLibraryPath: lib, nvidiaSmiPath: smi });
    expect(source.kind).toBe("nvidia-smi");
    expect(notice).toBe("NVML unavailable (nvmlInit_v2: Driver Not Loaded (NVML error 9)): reading GPUs through nvidia-smi");
    expect(lines.filter((l) => l.msg === notice)).toHaveLength(1);
    expect((await source.sample()).gpus).toHaveLength(2);
  });

  it("runs as a CPU-only node, said once, when neither NVML nor nvidia-smi is there", async () => {
    const missingLib = join(dir, "no-driver", "libnvidia-ml.so.1");
    const missingSmi = join(dir, "no-driver", "nvidia-smi");
    const { source, notice, lines } = await detect({ nvmlLibraryPath: missingLib, nvidiaSmiPath: missingSmi });
    expect(source.kind).toBe("none");
    expect(notice).toMatch(
      /^no NVIDIA GPU found \(NVML: cannot load .*libnvidia-ml\.so\.1: .*; nvidia-smi: .*nvidia-smi not found\): running as a CPU-only node$/,
    );
    expect(lines.filter((l) => l.msg === notice)).toEqual([expect.objectContaining({ level: 40 })]);
    expect(await source.sample()).toEqual({ gpus: [], driverVersion: "", cudaDriverVersion: "" });
  });

  it("runs as a CPU-only node when nvmlInit fails and nvidia-smi cannot reach the driver either", async () => {
    await writeFakeNvmlConfig(configPath, fakeNvmlConfig(1, { init_error: 9 }));
    process.env.FAKE_NVIDIA_SMI_FAIL = "1";
    const { source, notice } = await detect({ nvmlLibraryPath: lib, nvidiaSmiPath: smi });
    expect(source.kind).toBe("none");
    expect(notice).toContain("NVML: nvmlInit_v2: Driver Not Loaded (NVML error 9)");
    expect(notice).toContain("couldn't communicate with the NVIDIA driver");
  });
});
