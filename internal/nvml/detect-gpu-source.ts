import { NoGpuSource, type GpuSource } from "../gpu/gpu-source.js";
import type { Logger } from "../log/logger.js";
import { NvidiaSmiGpuSource } from "./nvidia-smi-gpu-source.js";
import { NvmlGpuSource } from "./nvml-gpu-source.js";

export interface DetectGpuSourceOptions {
  /** libnvidia-ml path; default env NODE_DAEMON_NVML_LIBRARY, else "libnvidia-ml.so.1". */
  nvmlLibraryPath?: string;
  /** nvidia-smi executable; default "nvidia-smi" on PATH. */
  nvidiaSmiPath?: string;
  nvidiaSmiTimeoutMs?: number;
  logger: Logger;
  signal?: AbortSignal;
}

export interface DetectedGpuSource {
  source: GpuSource;
  /** Set when the node runs degraded (nvidia-smi fallback, or CPU-only). Already logged once here. */
  notice?: string;
}

/**
 * Picks how this node reads its GPUs: NVML (loaded + initialised + one poll answers), else
 * nvidia-smi (it runs and answers), else a CPU-only node. Never throws for a machine without GPUs.
 */
export async function detectGpuSource(opts: DetectGpuSourceOptions): Promise<DetectedGpuSource> {
  const log = opts.logger;
  const nvmlWhy = await tryNvml(opts);
  if (typeof nvmlWhy !== "string") {
    log.info({ gpuSource: "nvml", gpus: nvmlWhy.gpus, driverVersion: nvmlWhy.driverVersion }, "reading GPUs through NVML");
    return { source: nvmlWhy.source };
  }
  log.debug({ reason: nvmlWhy }, "NVML unavailable");

  const smi = new NvidiaSmiGpuSource({ path: opts.nvidiaSmiPath, timeoutMs: opts.nvidiaSmiTimeoutMs });
  let smiWhy: string;
  try {
    const snapshot = await smi.sample(opts.signal);
    const notice = `NVML unavailable (${nvmlWhy}): reading GPUs through nvidia-smi`;
    log.warn({ gpuSource: "nvidia-smi", gpus: snapshot.gpus.length }, notice);
    return { source: smi, notice };
  } catch (err) {
    opts.signal?.throwIfAborted();
    smiWhy = err instanceof Error ? err.message : String(err);
  }

  const notice = `no NVIDIA GPU found (NVML: ${nvmlWhy}; nvidia-smi: ${smiWhy}): running as a CPU-only node`;
  log.warn({ gpuSource: "none" }, notice);
  return { source: new NoGpuSource(), notice };
}

async function tryNvml(
  opts: DetectGpuSourceOptions,
): Promise<{ source: NvmlGpuSource; gpus: number; driverVersion: string } | string> {
  const opened = await NvmlGpuSource.open({ libraryPath: opts.nvmlLibraryPath });
  if (!opened.ok) return opened.reason;
  try {
    const snapshot = await opened.source.sample(opts.signal);
    return { source: opened.source, gpus: snapshot.gpus.length, driverVersion: snapshot.driverVersion };
  } catch (err) {
    await opened.source.close().catch(() => undefined);
    opts.signal?.throwIfAborted();
    return `first poll failed: ${err instanceof Error ? err.message : String(err)}`;
  }
}
