/**
 * koffi binding to NVML (libnvidia-ml.so.1), loaded at run time: no compiled addon.
 *
 * Library path: `NvmlLibraryOptions.libraryPath`, else env NODE_DAEMON_NVML_LIBRARY, else the
 * system's "libnvidia-ml.so.1" (found by the dynamic loader, as the driver installs it). The test
 * stand-in (test/fixtures/nvml/fake-nvml.c) is only ever used when a test names its path.
 *
 * A library that cannot be loaded, or an nvmlInit_v2 that fails (driver not loaded, no
 * permission), is an `{ ok: false }` result from `openNvml`, never a throw. Per-call failures throw
 * `NvmlError` carrying NVML's return code and its nvmlErrorString text.
 *
 * The shared library is process-wide state: it is loaded once per path, nvmlInit_v2 runs once per
 * process however many sessions are open, and nvmlShutdown runs when the last session closes.
 * nvmlInit_v2 can take seconds on a machine without persistence mode, so it runs on koffi's worker
 * thread; the queries are microseconds each and run synchronously.
 */
import koffi, { type KoffiFunc, type LibraryHandle, type TypeObject } from "koffi";
import { AppError } from "../errors/app-error.js";

export const NVML_LIBRARY_ENV = "NODE_DAEMON_NVML_LIBRARY";
export const DEFAULT_NVML_LIBRARY = "libnvidia-ml.so.1";

/** nvmlReturn_t values used by this daemon (nvml.h). */
export const NvmlReturn = {
  SUCCESS: 0,
  ERROR_UNINITIALIZED: 1,
  ERROR_INVALID_ARGUMENT: 2,
  ERROR_NOT_SUPPORTED: 3,
  ERROR_NO_PERMISSION: 4,
  ERROR_INSUFFICIENT_SIZE: 7,
  ERROR_DRIVER_NOT_LOADED: 9,
  ERROR_GPU_IS_LOST: 15,
  ERROR_UNKNOWN: 999,
} as const;

// Buffer sizes from nvml.h (the v2 sizes are the larger, current ones).
const SYSTEM_DRIVER_VERSION_BUFFER_SIZE = 80;
const DEVICE_UUID_V2_BUFFER_SIZE = 96;
const DEVICE_NAME_V2_BUFFER_SIZE = 96;
const TEMPERATURE_GPU = 0;

export interface NvmlLibraryOptions {
  /** Path or soname of libnvidia-ml; see the top of this file for the default. */
  libraryPath?: string;
}

export function resolveNvmlLibraryPath(opts: NvmlLibraryOptions = {}): string {
  return opts.libraryPath || process.env[NVML_LIBRARY_ENV] || DEFAULT_NVML_LIBRARY;
}

/** An NVML call returned something other than NVML_SUCCESS. */
export class NvmlError extends AppError {
  constructor(
    readonly fn: string,
    readonly code: number,
    /** nvmlErrorString(code), e.g. "GPU is lost". */
    readonly errorString: string,
  ) {
    super(`${fn}: ${errorString} (NVML error ${code})`);
    this.name = "NvmlError";
  }
}

declare const deviceBrand: unique symbol;
/** An nvmlDevice_t; valid until the session that gave it is shut down. */
export type NvmlDeviceHandle = bigint & { readonly [deviceBrand]: true };

export interface NvmlMemory {
  totalBytes: number;
  freeBytes: number;
  usedBytes: number;
}

export interface NvmlUtilization {
  gpuPercent: number;
  memoryPercent: number;
}

export type NvmlOpenResult =
  | { ok: true; nvml: NvmlSession }
  | { ok: false; stage: "load" | "init"; reason: string; code?: number };

// Type objects are registered process-wide by name in koffi, so a module evaluated twice in one
// process (test isolation) must reuse them instead of declaring them again.
function namedType(name: string, declare: () => TypeObject): TypeObject {
  try {
    return koffi.type(name);
  } catch {
    return declare();
  }
}

const nvmlDevice_t = namedType("nvmlDevice_t", () => koffi.pointer("nvmlDevice_t", koffi.opaque()));
const nvmlPciInfo_t = koffi.struct({
  busIdLegacy: koffi.array("char", 16),
  domain: "unsigned int",
  bus: "unsigned int",
  device: "unsigned int",
  pciDeviceId: "unsigned int",
  pciSubSystemId: "unsigned int",
  busId: koffi.array("char", 32),
});
const nvmlMemory_t = koffi.struct({
  total: "unsigned long long",
  free: "unsigned long long",
  used: "unsigned long long",
});
const nvmlUtilization_t = koffi.struct({ gpu: "unsigned int", memory: "unsigned int" });

type Ret = number;
type Fn<T extends (...args: never[]) => unknown> = KoffiFunc<T>;

interface NvmlFunctions {
  nvmlInit_v2: Fn<() => Ret>;
  nvmlShutdown: Fn<() => Ret>;
  nvmlErrorString: Fn<(code: Ret) => string | null>;
  nvmlSystemGetDriverVersion: Fn<(buf: Buffer, length: number) => Ret>;
  nvmlSystemGetCudaDriverVersion: Fn<(out: [number]) => Ret>;
  nvmlDeviceGetCount_v2: Fn<(out: [number]) => Ret>;
  nvmlDeviceGetHandleByIndex_v2: Fn<(index: number, out: [NvmlDeviceHandle | null]) => Ret>;
  nvmlDeviceGetUUID: Fn<(dev: NvmlDeviceHandle, buf: Buffer, length: number) => Ret>;
  nvmlDeviceGetName: Fn<(dev: NvmlDeviceHandle, buf: Buffer, length: number) => Ret>;
  nvmlDeviceGetPciInfo_v3: Fn<(dev: NvmlDeviceHandle, out: { busId?: string }) => Ret>;
  nvmlDeviceGetMemoryInfo: Fn<(dev: NvmlDeviceHandle, out: { total?: number | bigint; free?: number | bigint; used?: number | bigint }) => Ret>;
  nvmlDeviceGetUtilizationRates: Fn<(dev: NvmlDeviceHandle, out: { gpu?: number; memory?: number }) => Ret>;
  nvmlDeviceGetTemperature: Fn<(dev: NvmlDeviceHandle, sensor: number, out: [number]) => Ret>;
  nvmlDeviceGetPowerUsage: Fn<(dev: NvmlDeviceHandle, out: [number]) => Ret>;
  nvmlDeviceGetEnforcedPowerLimit: Fn<(dev: NvmlDeviceHandle, out: [number]) => Ret>;
}

function bind(lib: LibraryHandle): NvmlFunctions {
  const out = koffi.out;
  const ptr = koffi.pointer;
  // Signatures as in nvml.h; nvmlReturn_t and nvmlTemperatureSensors_t are C enums (int).
  return {
    nvmlInit_v2: lib.func("nvmlInit_v2", "int", []),
    nvmlShutdown: lib.func("nvmlShutdown", "int", []),
    nvmlErrorString: lib.func("nvmlErrorString", "const char *", ["int"]),
    nvmlSystemGetDriverVersion: lib.func("nvmlSystemGetDriverVersion", "int", ["char *", "unsigned int"]),
    nvmlSystemGetCudaDriverVersion: lib.func("nvmlSystemGetCudaDriverVersion", "int", [out(ptr("int"))]),
    nvmlDeviceGetCount_v2: lib.func("nvmlDeviceGetCount_v2", "int", [out(ptr("unsigned int"))]),
    nvmlDeviceGetHandleByIndex_v2: lib.func("nvmlDeviceGetHandleByIndex_v2", "int", ["unsigned int", out(ptr(nvmlDevice_t))]),
    nvmlDeviceGetUUID: lib.func("nvmlDeviceGetUUID", "int", [nvmlDevice_t, "char *", "unsigned int"]),
    nvmlDeviceGetName: lib.func("nvmlDeviceGetName", "int", [nvmlDevice_t, "char *", "unsigned int"]),
    nvmlDeviceGetPciInfo_v3: lib.func("nvmlDeviceGetPciInfo_v3", "int", [nvmlDevice_t, out(ptr(nvmlPciInfo_t))]),
    nvmlDeviceGetMemoryInfo: lib.func("nvmlDeviceGetMemoryInfo", "int", [nvmlDevice_t, out(ptr(nvmlMemory_t))]),
    nvmlDeviceGetUtilizationRates: lib.func("nvmlDeviceGetUtilizationRates", "int", [nvmlDevice_t, out(ptr(nvmlUtilization_t))]),
    nvmlDeviceGetTemperature: lib.func("nvmlDeviceGetTemperature", "int", [nvmlDevice_t, "int", out(ptr("unsigned int"))]),
    nvmlDeviceGetPowerUsage: lib.func("nvmlDeviceGetPowerUsage", "int", [nvmlDevice_t, out(ptr("unsigned int"))]),
    nvmlDeviceGetEnforcedPowerLimit: lib.func("nvmlDeviceGetEnforcedPowerLimit", "int", [nvmlDevice_t, out(ptr("unsigned int"))]),
  };
}

/** One loaded copy of the library, shared by every session on the same path. */
interface LoadedNvml {
  fns: NvmlFunctions;
  sessions: number;
  /** The nvmlInit_v2 in flight or done for the current run of sessions. */
  init?: Promise<Ret>;
}

const loaded = new Map<string, LoadedNvml>();

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function loadLibrary(path: string): LoadedNvml | string {
  const existing = loaded.get(path);
  if (existing) return existing;
  let lib: LibraryHandle;
  try {
    lib = koffi.load(path);
  } catch (err) {
    return `cannot load ${path}: ${errorMessage(err)}`;
  }
  let fns: NvmlFunctions;
  try {
    fns = bind(lib);
  } catch (err) {
    // An NVML too old for a symbol we need (or not NVML at all).
    lib.unload();
    return `${path} is not a usable NVML: ${errorMessage(err)}`;
  }
  const entry: LoadedNvml = { fns, sessions: 0 };
  loaded.set(path, entry);
  return entry;
}

function callInit(fns: NvmlFunctions): Promise<Ret> {
  return new Promise((resolve, reject) => {
    fns.nvmlInit_v2.async((err: unknown, ret: Ret) => (err ? reject(err) : resolve(ret)));
  });
}

function errorString(fns: NvmlFunctions, code: Ret): string {
  return fns.nvmlErrorString(code) ?? `NVML error ${code}`;
}

/**
 * Loads NVML from the configured path and initialises it (once per process). Never throws for a
 * missing library or a failing nvmlInit_v2: those are `{ ok: false }` with the reason.
 */
export async function openNvml(opts: NvmlLibraryOptions = {}): Promise<NvmlOpenResult> {
  const path = resolveNvmlLibraryPath(opts);
  const lib = loadLibrary(path);
  if (typeof lib === "string") return { ok: false, stage: "load", reason: lib };

  lib.sessions++;
  lib.init ??= callInit(lib.fns);
  let ret: Ret;
  try {
    ret = await lib.init;
  } catch (err) {
    lib.init = undefined;
    lib.sessions--;
    return { ok: false, stage: "init", reason: `nvmlInit_v2: ${errorMessage(err)}` };
  }
  if (ret !== NvmlReturn.SUCCESS) {
    // Let the next open try again (the driver may be loaded by then).
    lib.init = undefined;
    lib.sessions--;
    return { ok: false, stage: "init", reason: `nvmlInit_v2: ${errorString(lib.fns, ret)} (NVML error ${ret})`, code: ret };
  }
  return { ok: true, nvml: new NvmlSession(path, lib) };
}

/** NVML after a successful init; every query throws NvmlError on a non-success return. */
export class NvmlSession {
  #open = true;
  readonly #fns: NvmlFunctions;
  // Scratch out-arguments, reused: the queries are synchronous.
  readonly #uint: [number] = [0];
  readonly #handle: [NvmlDeviceHandle | null] = [null];

  constructor(
    readonly libraryPath: string,
    private readonly lib: LoadedNvml,
  ) {
    this.#fns = lib.fns;
  }

  errorString(code: number): string {
    return errorString(this.#fns, code);
  }

  systemGetDriverVersion(): string {
    return this.#text("nvmlSystemGetDriverVersion", SYSTEM_DRIVER_VERSION_BUFFER_SIZE, (buf, n) =>
      this.#fns.nvmlSystemGetDriverVersion(buf, n),
    );
  }

  /** The CUDA version the driver supports, e.g. 12040 -> "12.4". */
  systemGetCudaDriverVersion(): string {
    const out: [number] = [0];
    this.#call("nvmlSystemGetCudaDriverVersion", () => this.#fns.nvmlSystemGetCudaDriverVersion(out));
    return formatCudaVersion(out[0]);
  }

  deviceGetCount(): number {
    this.#call("nvmlDeviceGetCount_v2", () => this.#fns.nvmlDeviceGetCount_v2(this.#uint));
    return this.#uint[0];
  }

  deviceGetHandleByIndex(index: number): NvmlDeviceHandle {
    this.#handle[0] = null;
    this.#call("nvmlDeviceGetHandleByIndex_v2", () => this.#fns.nvmlDeviceGetHandleByIndex_v2(index, this.#handle));
    const handle = this.#handle[0];
    if (handle === null) throw new NvmlError("nvmlDeviceGetHandleByIndex_v2", NvmlReturn.ERROR_UNKNOWN, "null handle");
    return handle;
  }

  deviceGetUUID(dev: NvmlDeviceHandle): string {
    return this.#text("nvmlDeviceGetUUID", DEVICE_UUID_V2_BUFFER_SIZE, (buf, n) => this.#fns.nvmlDeviceGetUUID(dev, buf, n));
  }

  deviceGetName(dev: NvmlDeviceHandle): string {
    return this.#text("nvmlDeviceGetName", DEVICE_NAME_V2_BUFFER_SIZE, (buf, n) => this.#fns.nvmlDeviceGetName(dev, buf, n));
  }

  /** nvmlPciInfo_t.busId, e.g. "00000000:17:00.0". */
  deviceGetPciBusId(dev: NvmlDeviceHandle): string {
    const out: { busId?: string } = {};
    this.#call("nvmlDeviceGetPciInfo_v3", () => this.#fns.nvmlDeviceGetPciInfo_v3(dev, out));
    return out.busId ?? "";
  }

  deviceGetMemoryInfo(dev: NvmlDeviceHandle): NvmlMemory {
    const out: { total?: number | bigint; free?: number | bigint; used?: number | bigint } = {};
    this.#call("nvmlDeviceGetMemoryInfo", () => this.#fns.nvmlDeviceGetMemoryInfo(dev, out));
    return { totalBytes: Number(out.total ?? 0), freeBytes: Number(out.free ?? 0), usedBytes: Number(out.used ?? 0) };
  }

  deviceGetUtilizationRates(dev: NvmlDeviceHandle): NvmlUtilization {
    const out: { gpu?: number; memory?: number } = {};
    this.#call("nvmlDeviceGetUtilizationRates", () => this.#fns.nvmlDeviceGetUtilizationRates(dev, out));
    return { gpuPercent: out.gpu ?? 0, memoryPercent: out.memory ?? 0 };
  }

  /** GPU core temperature (sensor NVML_TEMPERATURE_GPU), degrees Celsius. */
  deviceGetTemperature(dev: NvmlDeviceHandle): number {
    this.#call("nvmlDeviceGetTemperature", () => this.#fns.nvmlDeviceGetTemperature(dev, TEMPERATURE_GPU, this.#uint));
    return this.#uint[0];
  }

  /** Milliwatts. */
  deviceGetPowerUsage(dev: NvmlDeviceHandle): number {
    this.#call("nvmlDeviceGetPowerUsage", () => this.#fns.nvmlDeviceGetPowerUsage(dev, this.#uint));
    return this.#uint[0];
  }

  /** Milliwatts. */
  deviceGetEnforcedPowerLimit(dev: NvmlDeviceHandle): number {
    this.#call("nvmlDeviceGetEnforcedPowerLimit", () => this.#fns.nvmlDeviceGetEnforcedPowerLimit(dev, this.#uint));
    return this.#uint[0];
  }

  /** Ends this session; nvmlShutdown runs when the process's last session ends. Idempotent. */
  async shutdown(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    this.lib.sessions--;
    if (this.lib.sessions > 0) return;
    // A session exists only after a successful init, and an open in progress holds a count, so
    // nothing else is using NVML now.
    this.lib.init = undefined;
    const ret = this.#fns.nvmlShutdown();
    if (ret !== NvmlReturn.SUCCESS) throw new NvmlError("nvmlShutdown", ret, this.errorString(ret));
  }

  #call(fn: string, invoke: () => Ret): void {
    if (!this.#open) throw new NvmlError(fn, NvmlReturn.ERROR_UNINITIALIZED, "Uninitialized (session is shut down)");
    const ret = invoke();
    if (ret !== NvmlReturn.SUCCESS) throw new NvmlError(fn, ret, this.errorString(ret));
  }

  #text(fn: string, size: number, call: (buf: Buffer, length: number) => Ret): string {
    const buf = Buffer.alloc(size);
    this.#call(fn, () => call(buf, size));
    const end = buf.indexOf(0);
    return buf.toString("utf8", 0, end < 0 ? size : end);
  }
}

/** nvmlSystemGetCudaDriverVersion's integer (1000 * major + 10 * minor) as "major.minor". */
export function formatCudaVersion(version: number): string {
  if (!Number.isInteger(version) || version <= 0) return "";
  return `${Math.floor(version / 1000)}.${Math.floor((version % 1000) / 10)}`;
}
