import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildFakeNvml } from "../../test/fixtures/nvml/build-fake-nvml.js";
import { fakeNvmlConfig, writeFakeNvmlConfig } from "../../test/fixtures/nvml/fake-nvml-config.js";
import {
  DEFAULT_NVML_LIBRARY,
  formatCudaVersion,
  NVML_LIBRARY_ENV,
  NvmlError,
  NvmlReturn,
  openNvml,
  resolveNvmlLibraryPath,
} from "./nvml-library.js";

let lib: string;
let dir: string;
let configPath: string;

beforeAll(async () => {
  lib = await buildFakeNvml();
  dir = await mkdtemp(join(tmpdir(), "nvml-library-"));
  configPath = join(dir, "nvml.json");
  process.env.FAKE_NVML_CONFIG = configPath;
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("openNvml", () => {
  it("answers a missing library with a clean result, not a throw", async () => {
    const res = await openNvml({ libraryPath: join(dir, "nope", "libnvidia-ml.so.1") });
    expect(res).toMatchObject({ ok: false, stage: "load" });
    expect(!res.ok && res.reason).toContain("cannot load");
  });

  it("answers a library without NVML's symbols with a clean result", async () => {
    const res = await openNvml({ libraryPath: "libc.so.6" });
    expect(res).toMatchObject({ ok: false, stage: "load" });
    expect(!res.ok && res.reason).toMatch(/not a usable NVML/);
  });

  it("reports a failing nvmlInit_v2 with its code and text, and retries on the next open", async () => {
    await writeFakeNvmlConfig(configPath, fakeNvmlConfig(1, { init_error: NvmlReturn.ERROR_DRIVER_NOT_LOADED }));
    const failed = await openNvml({ libraryPath: lib });
    expect(failed).toEqual({
      ok: false,
      stage: "init",
      code: 9,
      reason: "nvmlInit_v2: Driver Not Loaded (NVML error 9)",
    });

    await writeFakeNvmlConfig(configPath, fakeNvmlConfig(1));
    const res = await openNvml({ libraryPath: lib });
    if (!res.ok) throw new Error(res.reason);
    try {
      expect(res.nvml.deviceGetCount()).toBe(1);
    } finally {
      await res.nvml.shutdown();
    }
  });

  it("throws NvmlError with NVML's code and text for a failing query, and refuses calls after shutdown", async () => {
    await writeFakeNvmlConfig(configPath, fakeNvmlConfig(1));
    const res = await openNvml({ libraryPath: lib });
    if (!res.ok) throw new Error(res.reason);
    const nvml = res.nvml;
    const err = (() => {
      try {
        nvml.deviceGetHandleByIndex(5);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(NvmlError);
    expect(err).toMatchObject({ fn: "nvmlDeviceGetHandleByIndex_v2", code: NvmlReturn.ERROR_INVALID_ARGUMENT, errorString: "Invalid Argument" });
    expect(nvml.errorString(NvmlReturn.ERROR_GPU_IS_LOST)).toBe("GPU is lost");

    await nvml.shutdown();
    expect(() => nvml.deviceGetCount()).toThrow(NvmlError);
  });
});

describe("library path and versions", () => {
  it("takes the option, then env, then the system soname", () => {
    const saved = process.env[NVML_LIBRARY_ENV];
    try {
      delete process.env[NVML_LIBRARY_ENV];
      expect(resolveNvmlLibraryPath()).toBe(DEFAULT_NVML_LIBRARY);
      process.env[NVML_LIBRARY_ENV] = "/opt/nvml/libnvidia-ml.so.1";
      expect(resolveNvmlLibraryPath()).toBe("/opt/nvml/libnvidia-ml.so.1");
      expect(resolveNvmlLibraryPath({ libraryPath: "/x/lib.so" })).toBe("/x/lib.so");
    } finally {
      if (saved === undefined) delete process.env[NVML_LIBRARY_ENV];
      else process.env[NVML_LIBRARY_ENV] = saved;
    }
  });

  it.each([
    [12040, "12.4"],
    [12020, "12.2"],
    [11080, "11.8"],
    [12000, "12.0"],
    [0, ""],
  ])("formats CUDA driver version %i as %j", (input, expected) => {
    expect(formatCudaVersion(input)).toBe(expected);
  });
});
