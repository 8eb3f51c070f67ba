import type { GpuSnapshot, GpuSource } from "../gpu/gpu-source.js";

const GIB = 1024 ** 3;

/**
 * The daemon's `-gpu-type` and `-memory-gb` flags (Go daemon: "(auto-detect)" by default). When
 * set, they replace what the GPU source reports for every GPU.
 */
export interface GpuOverrideOptions {
  /** `-gpu-type`: the GPU name to advertise, e.g. "NVIDIA H100 80GB HBM3". */
  gpuType?: string;
  /** `-memory-gb`: memory per GPU in GiB; sets memoryTotalBytes (free = total - used). */
  memoryGb?: number;
}

export const defaultGpuOverrideOptions: GpuOverrideOptions = {};

export function hasGpuOverrides(opts: GpuOverrideOptions): boolean {
  return (opts.gpuType !== undefined && opts.gpuType !== "") || opts.memoryGb !== undefined;
}

/** Throws on a memory size that is not a positive finite number. */
export function validateGpuOverrides(opts: GpuOverrideOptions): void {
  if (opts.memoryGb !== undefined && !(Number.isFinite(opts.memoryGb) && opts.memoryGb > 0)) {
    throw new RangeError(`-memory-gb must be a positive number of GiB, got ${opts.memoryGb}`);
  }
}

/** Pure: the snapshot with the overrides applied to every GPU. */
export function applyGpuOverrides(snapshot: GpuSnapshot, opts: GpuOverrideOptions): GpuSnapshot {
  if (!hasGpuOverrides(opts)) return snapshot;
  const totalBytes = opts.memoryGb === undefined ? undefined : Math.round(opts.memoryGb * GIB);
  return {
    ...snapshot,
    gpus: snapshot.gpus.map((gpu) => {
      const out = { ...gpu };
      if (opts.gpuType) out.name = opts.gpuType;
      if (totalBytes !== undefined) {
        out.memoryTotalBytes = totalBytes;
        out.memoryFreeBytes = Math.max(0, totalBytes - gpu.memoryUsedBytes);
      }
      return out;
    }),
  };
}

/** A GpuSource whose samples carry the `-gpu-type` / `-memory-gb` overrides. */
export class OverriddenGpuSource implements GpuSource {
  readonly kind: string;

  constructor(
    private readonly inner: GpuSource,
    private readonly opts: GpuOverrideOptions,
  ) {
    validateGpuOverrides(opts);
    this.kind = inner.kind;
  }

  async sample(signal?: AbortSignal): Promise<GpuSnapshot> {
    return applyGpuOverrides(await this.inner.sample(signal), this.opts);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** `source` itself when no override is set, else a wrapper applying them. */
export function withGpuOverrides(source: GpuSource, opts: GpuOverrideOptions): GpuSource {
  validateGpuOverrides(opts);
  return hasGpuOverrides(opts) ? new OverriddenGpuSource(source, opts) : source;
}
