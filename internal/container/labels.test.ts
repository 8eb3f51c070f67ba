import { describe, expect, it } from "vitest";
import { LABELS, parseWorkloadLabels, workloadFilter, workloadLabels, type WorkloadLabels } from "./labels.js";

describe("parseWorkloadLabels", () => {
  it.each<[string, Record<string, string> | undefined, WorkloadLabels | undefined]>([
    [
      "a rental",
      { [LABELS.kind]: "rental", [LABELS.rentalId]: "r1", [LABELS.nodeId]: "n1", [LABELS.gpuIds]: "0,2", other: "x" },
      { kind: "rental", rentalId: "r1", nodeId: "n1", gpuIds: ["0", "2"] },
    ],
    ["a miner", { [LABELS.kind]: "miner", [LABELS.nodeId]: "n1", [LABELS.gpuIds]: "GPU-ab" }, { kind: "miner", nodeId: "n1", gpuIds: ["GPU-ab"] }],
    ["a CPU-only rental", { [LABELS.kind]: "rental", [LABELS.rentalId]: "r1", [LABELS.nodeId]: "n1", [LABELS.gpuIds]: "" }, { kind: "rental", rentalId: "r1", nodeId: "n1", gpuIds: [] }],
    ["no labels at all", undefined, undefined],
    ["a foreign container", { "com.docker.compose.project": "web" }, undefined],
    ["an unknown kind", { [LABELS.kind]: "batch", [LABELS.nodeId]: "n1", [LABELS.gpuIds]: "0" }, undefined],
    ["a rental without its id", { [LABELS.kind]: "rental", [LABELS.nodeId]: "n1", [LABELS.gpuIds]: "0" }, undefined],
    ["no node id", { [LABELS.kind]: "miner", [LABELS.gpuIds]: "0" }, undefined],
    ["no gpu label", { [LABELS.kind]: "miner", [LABELS.nodeId]: "n1" }, undefined],
    ["an empty entry in the gpu list", { [LABELS.kind]: "miner", [LABELS.nodeId]: "n1", [LABELS.gpuIds]: "0,,1" }, undefined],
    ["spaces in the gpu list", { [LABELS.kind]: "miner", [LABELS.nodeId]: "n1", [LABELS.gpuIds]: "0, 1" }, undefined],
  ])("%s", (_name, labels, want) => {
    expect(parseWorkloadLabels(labels)).toEqual(want);
  });

  it.each<WorkloadLabels>([
    { kind: "rental", rentalId: "r-9", nodeId: "node-a", gpuIds: ["1", "3"] },
    { kind: "miner", nodeId: "node-a", gpuIds: ["0"] },
    { kind: "miner", nodeId: "node-a", gpuIds: [] },
  ])("round-trips %j", (w) => {
    expect(parseWorkloadLabels(workloadLabels(w))).toEqual(w);
  });
});

describe("workloadFilter", () => {
  it("matches one node's workloads, or one kind of them", () => {
    expect(workloadFilter("n1")).toEqual({ [LABELS.nodeId]: "n1", [LABELS.kind]: true });
    expect(workloadFilter("n1", "miner")).toEqual({ [LABELS.nodeId]: "n1", [LABELS.kind]: "miner" });
  });
});
