import { execFile, type ExecFileException } from "node:child_process";
import type { GpuSample, GpuSnapshot, GpuSource } from "../gpu/gpu-source.js";
import { AppError } from "../errors/app-error.js";

/** The fields asked of nvidia-smi, in the order of its CSV columns. */
export const NVIDIA_SMI_QUERY_FIELDS = [
  "index",
  "uuid",
  "name",
  "pci.bus_id",
  "memory.total",
  "memory.used",
  "memory.free",
  "utilization.gpu",
  "utilization.memory",
  "temperature.gpu",
  "power.draw",
  "power.limit",
  "driver_version",
] as const;

export const NVIDIA_SMI_QUERY_ARGS = [
  `--query-gpu=${NVIDIA_SMI_QUERY_FIELDS.join(",")}`,
  "--format=csv,noheader,nounits",
] as const;

export const DEFAULT_NVIDIA_SMI_TIMEOUT_MS = 10_000;
const MIB = 1024 * 1024;

export interface NvidiaSmiGpuSourceOptions {
  /** Executable; "nvidia-smi" is looked up on PATH. */
  path?: string;
  timeoutMs?: number;
}

export type NvidiaSmiErrorCode = "not-found" | "failed" | "timeout" | "unparsable";

export class NvidiaSmiError extends AppError {
  constructor(
    readonly code: NvidiaSmiErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "NvidiaSmiError";
  }
}

/** GPUs read by spawning nvidia-smi: the fallback when NVML cannot be loaded by this process. */
export class NvidiaSmiGpuSource implements GpuSource {
  readonly kind = "nvidia-smi";
  readonly #path: string;
  readonly #timeoutMs: number;
  /** Asked once: the CUDA version only shows in nvidia-smi's header. */
  #cudaDriverVersion?: Promise<string>;

  constructor(opts: NvidiaSmiGpuSourceOptions = {}) {
    this.#path = opts.path ?? "nvidia-smi";
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_NVIDIA_SMI_TIMEOUT_MS;
  }

  async sample(signal?: AbortSignal): Promise<GpuSnapshot> {
    const stdout = await this.#run(NVIDIA_SMI_QUERY_ARGS, signal);
    const parsed = parseNvidiaSmiCsv(stdout);
    // Not tied to this poll's signal: the answer is cached for every later poll. A failure leaves
    // the version empty (the GPUs themselves were read).
    this.#cudaDriverVersion ??= this.#run([]).then(parseCudaVersion, () => "");
    return { gpus: parsed.gpus, driverVersion: parsed.driverVersion, cudaDriverVersion: await this.#cudaDriverVersion };
  }

  async close(): Promise<void> {}

  #run(args: readonly string[], signal?: AbortSignal): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(
        this.#path,
        args,
        { signal, timeout: this.#timeoutMs, encoding: "utf8", maxBuffer: 4 * MIB, windowsHide: true },
        (err, stdout, stderr) => {
          if (!err) return resolve(stdout);
          if (signal?.aborted) return reject(signal.reason);
          reject(describeFailure(this.#path, err, `${stdout}\n${stderr}`));
        },
      );
    });
  }
}

function describeFailure(path: string, err: ExecFileException, output: string): NvidiaSmiError {
  if (err.code === "ENOENT") return new NvidiaSmiError("not-found", `${path} not found`);
  if (err.code === "EACCES") return new NvidiaSmiError("not-found", `${path} is not executable`);
  if (err.killed) return new NvidiaSmiError("timeout", `${path} did not answer in time`);
  // nvidia-smi explains itself on stdout ("NVIDIA-SMI has failed because it couldn't communicate
  // with the NVIDIA driver..."); its first line is the useful part.
  const firstLine = output.split("\n").map((l) => l.trim()).find((l) => l.length > 0);
  const status = typeof err.code === "number" ? `exit ${err.code}` : String(err.code ?? err.signal ?? "failed");
  return new NvidiaSmiError("failed", `${path} failed (${status})${firstLine ? `: ${firstLine}` : ""}`);
}

/** A cell nvidia-smi could not fill: "[N/A]", "[Not Supported]", "N/A". Reads as 0, not an error. */
function isNotAvailable(cell: string): boolean {
  return /^\[?(N\/A|Not Supported|Unknown|Insufficient Permissions)\]?$/i.test(cell);
}

/** Any other bracketed cell ("[GPU is lost]", "[Unknown Error]") is the GPU's error text. */
function cellError(cell: string): string | undefined {
  const m = /^\[(.+)\]$/.exec(cell);
  return m && !isNotAvailable(cell) ? m[1] : undefined;
}

/**
 * Parses `nvidia-smi --query-gpu=<NVIDIA_SMI_QUERY_FIELDS> --format=csv,noheader,nounits`.
 * MiB become bytes and W become mW. Throws NvidiaSmiError("unparsable") on a wrong column count.
 */
export function parseNvidiaSmiCsv(stdout: string): { gpus: GpuSample[]; driverVersion: string } {
  const gpus: GpuSample[] = [];
  let driverVersion = "";
  for (const raw of stdout.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    const cells = line.split(",").map((c) => c.trim());
    // A GPU name with a comma in it: glue the middle back together.
    const extra = cells.length - NVIDIA_SMI_QUERY_FIELDS.length;
    if (extra > 0) cells.splice(2, extra + 1, cells.slice(2, 3 + extra).join(", "));
    if (cells.length !== NVIDIA_SMI_QUERY_FIELDS.length) {
      throw new NvidiaSmiError("unparsable", `nvidia-smi: expected ${NVIDIA_SMI_QUERY_FIELDS.length} columns, got: ${line}`);
    }
    const [index, uuid, name, pci, memTotal, memUsed, memFree, utilGpu, utilMem, temp, powerDraw, powerLimit, driver] =
      cells as [string, string, string, string, string, string, string, string, string, string, string, string, string];
    const errors = cells.map(cellError).filter((e): e is string => e !== undefined);
    const text = (cell: string): string => (cell.startsWith("[") || isNotAvailable(cell) ? "" : cell);
    const sample: GpuSample = {
      index: Number.parseInt(index, 10),
      uuid: text(uuid),
      name: text(name),
      pciBusId: text(pci),
      healthy: errors.length === 0,
      memoryTotalBytes: number(memTotal) * MIB,
      memoryUsedBytes: number(memUsed) * MIB,
      memoryFreeBytes: number(memFree) * MIB,
      utilizationGpuPercent: number(utilGpu),
      utilizationMemoryPercent: number(utilMem),
      temperatureCelsius: number(temp),
      powerDrawMilliwatts: Math.round(number(powerDraw) * 1000),
      powerLimitMilliwatts: Math.round(number(powerLimit) * 1000),
    };
    if (errors[0] !== undefined) sample.error = errors[0];
    if (!Number.isInteger(sample.index)) {
      throw new NvidiaSmiError("unparsable", `nvidia-smi: bad GPU index in: ${line}`);
    }
    gpus.push(sample);
    driverVersion ||= text(driver);
  }
  return { gpus, driverVersion };
}

function number(cell: string): number {
  const v = Number.parseFloat(cell);
  return Number.isFinite(v) ? v : 0;
}

/** "CUDA Version: 12.4" from nvidia-smi's header (or "CUDA Version : 12.4" from --version). */
export function parseCudaVersion(stdout: string): string {
  return /CUDA Version\s*:\s*([0-9]+(?:\.[0-9]+)*)/.exec(stdout)?.[1] ?? "";
}
