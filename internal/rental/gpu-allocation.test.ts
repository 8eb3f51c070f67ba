import { describe, expect, it } from "vitest";
import { GpuAllocation, type KnownGpu } from "./gpu-allocation.js";

// A mixed node: GPUs 0 and 1 are A100s, 2 and 3 are H100s (3 unhealthy).
const gpus: KnownGpu[] = [0, 1, 2, 3].map((index) => ({ index, uuid: `GPU-${index}`, name: index < 2 ? "NVIDIA A100-SXM4-40GB" : "NVIDIA H100 80GB HBM3", healthy: index !== 3 }));
const sel = (ids: string[], count = 0, model = "") => ({ ids, count, model });

describe("GpuAllocation", () => {
  it("gives each GPU to one rental at most, by index or UUID", () => {
    const a = new GpuAllocation(() => gpus);
    expect(a.claim("r1", sel(["0", "GPU-2"]))).toEqual([0, 2]);
    expect(() => a.claim("r2", sel(["2"]))).toThrow(expect.objectContaining({ code: "gpu_taken", message: expect.stringContaining("r1") }));
    expect(a.free()).toEqual([1]); // GPU 3 is unhealthy
  });

  it("takes all of a claim or nothing", () => {
    const a = new GpuAllocation(() => gpus);
    a.claim("r1", sel(["1"]));
    expect(() => a.claim("r2", sel(["0", "1"]))).toThrow(expect.objectContaining({ code: "gpu_taken" }));
    expect(a.holderOf(0)).toBeUndefined();
  });

  it.each([
    [sel(["9"]), "unknown_gpu"],
    [sel(["3"]), "gpu_unhealthy"],
    [sel(["0", "0"]), "invalid_argument"],
    [sel(["0"], 2), "invalid_argument"],
    [sel([], 4), "not_enough_gpus"],
    [sel([], 2, "h100"), "not_enough_gpus"],
    [sel(["0"], 0, "h100"), "gpu_model_mismatch"],
  ])("refuses %j with %s", (selection, code) => {
    const a = new GpuAllocation(() => gpus);
    expect(() => a.claim("r", selection)).toThrow(expect.objectContaining({ code }));
    expect(a.free()).toEqual([0, 1, 2]);
  });

  it("picks free GPUs for a count, returns the same GPUs to a repeated claim, and frees them on release", () => {
    const a = new GpuAllocation(() => gpus);
    a.claim("r1", sel(["0"]));
    expect(a.claim("r2", sel([], 2))).toEqual([1, 2]);
    expect(a.claim("r2", sel([], 2))).toEqual([1, 2]);
    expect(a.release("r2")).toEqual([1, 2]);
    expect(a.free()).toEqual([1, 2]);
  });

  it("gives a count of a model only GPUs of that model, and a CPU-only rental none", () => {
    const a = new GpuAllocation(() => gpus);
    expect(a.claim("h", sel([], 1, "H100"))).toEqual([2]);
    expect(a.claim("a", sel([], 2, "a100"))).toEqual([0, 1]);
    expect(a.claim("cpu", sel([], 0))).toEqual([]);
    expect(a.claim("named", { ids: [], count: 0, model: "" })).toEqual([]);
  });

  it("restores an adopted rental's GPUs and refuses a conflicting one", () => {
    const a = new GpuAllocation(() => gpus);
    a.restore("old", [1]);
    expect(a.holderOf(1)).toBe("old");
    expect(() => a.restore("other", [1])).toThrow(expect.objectContaining({ code: "gpu_taken" }));
  });
});
