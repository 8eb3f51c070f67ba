import { describe, expect, it } from "vitest";
import { toCreateOptions } from "../container/create-options.js";
import { LABELS, workloadLabels } from "../container/labels.js";
import { MINER_GPU_INDEX_LABEL, minerGpuIndex, minerName, minerSpec } from "./miner-spec.js";
import { defaultMiningOptions, type MiningOptions } from "./mining-options.js";

const opts: MiningOptions = {
  ...defaultMiningOptions,
  enabled: true,
  image: "example/miner:1",
  dataDir: "/data/worldland",
  args: ["--pool", "stratum+tcp://pool.example:4444"],
  env: [{ name: "WALLET", value: "0xabc" }],
  nodeId: "0123456789abcdef",
};

describe("minerSpec", () => {
  it("maps one GPU to one hardened, labelled container", () => {
    const spec = minerSpec(opts, 3, "GPU-uuid-3");
    expect(spec.name).toBe("gpunode-miner-01234567-gpu3");
    expect(spec.gpuDeviceIds).toEqual(["GPU-uuid-3"]);
    expect(spec.restart).toEqual({ name: "no" });
    expect(spec.labels).toEqual({
      [LABELS.kind]: "miner",
      [LABELS.nodeId]: opts.nodeId,
      [LABELS.gpuIds]: "GPU-uuid-3",
      [MINER_GPU_INDEX_LABEL]: "3",
    });
    expect(spec.cmd).toEqual(opts.args);
    expect(spec.entrypoint).toBeUndefined();
    expect(spec.env).toEqual({ WALLET: "0xabc" });
    expect(spec.mounts).toEqual([{ type: "data", source: "/data/worldland/gpu-3", target: "/data" }]);

    const body = toCreateOptions(spec);
    expect(body.HostConfig.Privileged).toBe(false);
    expect(body.HostConfig.CapDrop).toEqual(["ALL"]);
    expect(body.HostConfig.RestartPolicy).toEqual({ Name: "no" });
    expect(body.HostConfig.DeviceRequests).toEqual([{ Driver: "nvidia", DeviceIDs: ["GPU-uuid-3"], Capabilities: [["gpu"]] }]);
    expect(body.Env).toContain("NVIDIA_VISIBLE_DEVICES=GPU-uuid-3");
  });

  it("leaves out what is not configured", () => {
    const spec = minerSpec({ ...opts, dataDir: "", args: [], entrypoint: ["sh", "-c", "x"] }, 0, "0");
    expect(spec.mounts).toBeUndefined();
    expect(spec.cmd).toBeUndefined();
    expect(spec.entrypoint).toEqual(["sh", "-c", "x"]);
  });
});

describe("minerGpuIndex", () => {
  const mine = minerSpec(opts, 2, "GPU-x").labels;
  it.each([
    ["this node's miner", mine, 2],
    ["another node's miner", { ...mine, [LABELS.nodeId]: "other" }, undefined],
    ["a rental", workloadLabels({ kind: "rental", rentalId: "r1", nodeId: opts.nodeId, gpuIds: ["2"] }), undefined],
    ["no index label", { ...mine, [MINER_GPU_INDEX_LABEL]: "" }, undefined],
    ["a bad index", { ...mine, [MINER_GPU_INDEX_LABEL]: "-1" }, undefined],
    ["no labels", undefined, undefined],
  ])("%s", (_what, labels, want) => {
    expect(minerGpuIndex(labels, opts.nodeId)).toBe(want);
  });

  it("names stay per node and per GPU", () => {
    expect(minerName("abcdefgh-1234", 0)).toBe("gpunode-miner-abcdefgh-gpu0");
  });
});
