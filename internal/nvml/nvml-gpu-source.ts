import { type GpuSample, type GpuSnapshot, type GpuSource, unhealthyGpu } from "../gpu/gpu-source.js";
import {
  NvmlError,
  NvmlReturn,
  openNvml,
  type NvmlDeviceHandle,
  type NvmlLibraryOptions,
  type NvmlSession,
} from "./nvml-library.js";

/** What does not change while NVML stays initialised; read once per GPU index. */
interface StaticFacts {
  handle: NvmlDeviceHandle;
  uuid: string;
  name: string;
  pciBusId: string;
  powerLimitMilliwatts: number;
}

export type NvmlGpuSourceOpenResult =
  | { ok: true; source: NvmlGpuSource }
  | { ok: false; stage: "load" | "init"; reason: string; code?: number };

/**
 * GPUs read through NVML. One failing GPU (e.g. NVML_ERROR_GPU_IS_LOST) is reported unhealthy with
 * NVML's error text while the others still report; a metric the GPU does not support
 * (NVML_ERROR_NOT_SUPPORTED, e.g. power on some boards) reads as 0 and is not an error.
 */
export class NvmlGpuSource implements GpuSource {
  readonly kind = "nvml";
  readonly #nvml: NvmlSession;
  readonly #statics = new Map<number, StaticFacts>();
  #versions?: { driverVersion: string; cudaDriverVersion: string };
  #closed = false;

  constructor(nvml: NvmlSession) {
    this.#nvml = nvml;
  }

  /** Loads and initialises NVML; a missing library or failing init is `{ ok: false }`. */
  static async open(opts: NvmlLibraryOptions = {}): Promise<NvmlGpuSourceOpenResult> {
    const res = await openNvml(opts);
    if (!res.ok) return res;
    return { ok: true, source: new NvmlGpuSource(res.nvml) };
  }

  async sample(signal?: AbortSignal): Promise<GpuSnapshot> {
    signal?.throwIfAborted();
    if (this.#closed) throw new Error("NvmlGpuSource is closed");
    const nvml = this.#nvml;
    const count = nvml.deviceGetCount();
    for (const index of this.#statics.keys()) if (index >= count) this.#statics.delete(index);
    this.#versions ??= {
      driverVersion: nvml.systemGetDriverVersion(),
      cudaDriverVersion: nvml.systemGetCudaDriverVersion(),
    };
    const gpus: GpuSample[] = [];
    for (let index = 0; index < count; index++) {
      signal?.throwIfAborted();
      gpus.push(this.#readGpu(index));
    }
    return { gpus, ...this.#versions };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#statics.clear();
    await this.#nvml.shutdown();
  }

  #readGpu(index: number): GpuSample {
    const nvml = this.#nvml;
    let facts = this.#statics.get(index);
    try {
      if (!facts) {
        const handle = nvml.deviceGetHandleByIndex(index);
        facts = {
          handle,
          uuid: nvml.deviceGetUUID(handle),
          name: nvml.deviceGetName(handle),
          pciBusId: nvml.deviceGetPciBusId(handle),
          powerLimitMilliwatts: unlessNotSupported(() => nvml.deviceGetEnforcedPowerLimit(handle), 0),
        };
        this.#statics.set(index, facts);
      }
      const h = facts.handle;
      const memory = unlessNotSupported(() => nvml.deviceGetMemoryInfo(h), { totalBytes: 0, freeBytes: 0, usedBytes: 0 });
      const util = unlessNotSupported(() => nvml.deviceGetUtilizationRates(h), { gpuPercent: 0, memoryPercent: 0 });
      return {
        index,
        uuid: facts.uuid,
        name: facts.name,
        pciBusId: facts.pciBusId,
        healthy: true,
        memoryTotalBytes: memory.totalBytes,
        memoryUsedBytes: memory.usedBytes,
        memoryFreeBytes: memory.freeBytes,
        utilizationGpuPercent: util.gpuPercent,
        utilizationMemoryPercent: util.memoryPercent,
        temperatureCelsius: unlessNotSupported(() => nvml.deviceGetTemperature(h), 0),
        powerDrawMilliwatts: unlessNotSupported(() => nvml.deviceGetPowerUsage(h), 0),
        powerLimitMilliwatts: facts.powerLimitMilliwatts,
      };
    } catch (err) {
      if (!(err instanceof NvmlError)) throw err;
      return unhealthyGpu({ index, uuid: facts?.uuid ?? "", name: facts?.name ?? "", pciBusId: facts?.pciBusId ?? "", powerLimitMilliwatts: facts?.powerLimitMilliwatts }, err.errorString);
    }
  }
}

function unlessNotSupported<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof NvmlError && err.code === NvmlReturn.ERROR_NOT_SUPPORTED) return fallback;
    throw err;
  }
}
