/**
 * One full GPU poll through the NVML binding vs one `nvidia-smi --query-gpu` spawn, same fields.
 *
 *   node dist-bench/bench/nvml-poll.js [--iterations 200] [--gpus 8]    (npm run bench:nvml compiles and runs it)
 *
 * (bench/ and test/fixtures/ must be compiled: see bench/README.md.) NVML is the library named by
 * env NODE_DAEMON_NVML_LIBRARY when set, else the test stand-in (fake-nvml.c, compiled with `cc`)
 * serving --gpus GPUs. nvidia-smi is the real one when it answers on PATH, else the stand-in script
 * printing the same GPUs. Timings are wall-clock per poll after a short warm-up.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { GpuSource } from "../internal/gpu/gpu-source.js";
import { NVML_LIBRARY_ENV } from "../internal/nvml/nvml-library.js";
import { NvidiaSmiGpuSource } from "../internal/nvml/nvidia-smi-gpu-source.js";
import { NvmlGpuSource } from "../internal/nvml/nvml-gpu-source.js";
import { buildFakeNvml } from "../test/fixtures/nvml/build-fake-nvml.js";
import { installFakeNvidiaSmi } from "../test/fixtures/nvml/fake-nvidia-smi.js";
import { fakeNvmlConfig, nvidiaSmiCsv, writeFakeNvmlConfig } from "../test/fixtures/nvml/fake-nvml-config.js";

interface Timing {
  label: string;
  gpus: number;
  samplesMs: number[];
}

async function time(label: string, source: GpuSource, iterations: number): Promise<Timing> {
  const warmup = Math.min(10, iterations);
  let gpus = 0;
  for (let i = 0; i < warmup; i++) gpus = (await source.sample()).gpus.length;
  const samplesMs: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const start = process.hrtime.bigint();
    await source.sample();
    samplesMs.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return { label, gpus, samplesMs };
}

function stats(t: Timing): { mean: number; p50: number; p95: number } {
  const sorted = [...t.samplesMs].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { mean: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length), p50: at(0.5), p95: at(0.95) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { iterations: { type: "string", default: "200" }, gpus: { type: "string", default: "8" } },
  });
  const iterations = Number.parseInt(values.iterations, 10);
  const gpuCount = Number.parseInt(values.gpus, 10);
  const dir = await mkdtemp(join(tmpdir(), "nvml-bench-"));
  const config = fakeNvmlConfig(gpuCount);
  try {
    // NVML: the configured library, else the stand-in.
    let nvmlLabel: string;
    let libraryPath = process.env[NVML_LIBRARY_ENV];
    if (libraryPath) {
      nvmlLabel = `NVML binding (${libraryPath})`;
    } else {
      libraryPath = await buildFakeNvml();
      process.env.FAKE_NVML_CONFIG = join(dir, "nvml.json");
      await writeFakeNvmlConfig(process.env.FAKE_NVML_CONFIG, config);
      nvmlLabel = "NVML binding (stand-in lib)";
      // The stand-in re-reads a config written in the last 50 ms on every call: let it settle.
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const opened = await NvmlGpuSource.open({ libraryPath });
    if (!opened.ok) throw new Error(`NVML: ${opened.reason}`);

    // nvidia-smi: the real one when it answers, else the stand-in script with the same GPUs.
    let smi: GpuSource = new NvidiaSmiGpuSource();
    let smiLabel = "nvidia-smi spawn (real)";
    try {
      await smi.sample();
    } catch {
      const csv = join(dir, "smi.csv");
      await writeFile(csv, nvidiaSmiCsv(config));
      process.env.FAKE_NVIDIA_SMI_CSV = csv;
      smi = new NvidiaSmiGpuSource({ path: await installFakeNvidiaSmi(join(dir, "bin")) });
      smiLabel = "nvidia-smi spawn (stand-in sh)";
    }

    const nvml = await time(nvmlLabel, opened.source, iterations);
    const spawn = await time(smiLabel, smi, iterations);
    await opened.source.close();

    const rows = [nvml, spawn].map((t) => ({ t, s: stats(t) }));
    const w = Math.max(...rows.map((r) => r.t.label.length));
    console.log(`${"source".padEnd(w)}  gpus  iters   mean ms    p50 ms    p95 ms`);
    for (const { t, s } of rows) {
      console.log(
        `${t.label.padEnd(w)}  ${String(t.gpus).padStart(4)}  ${String(t.samplesMs.length).padStart(5)}` +
          `  ${s.mean.toFixed(4).padStart(8)}  ${s.p50.toFixed(4).padStart(8)}  ${s.p95.toFixed(4).padStart(8)}`,
      );
    }
    const [a, b] = rows;
    if (a && b) console.log(`ratio (nvidia-smi / NVML, mean): ${(b.s.mean / a.s.mean).toFixed(1)}x`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
