import { join } from "node:path";
import type { ContainerSpec } from "../container/container-spec.js";
import { LABEL_PREFIX, parseWorkloadLabels, workloadLabels } from "../container/labels.js";
import { DEFAULT_MINER_RESOURCES, type MiningOptions } from "./mining-options.js";

/**
 * Which GPU a miner runs on, by index. The workload's gpu-ids label holds the device id handed to
 * the engine (often a UUID); this one maps the container back to our per-GPU state.
 */
export const MINER_GPU_INDEX_LABEL = `${LABEL_PREFIX}miner-gpu-index`;

/** Where each miner sees its data folder. */
export const MINER_DATA_TARGET = "/data";

export function minerName(nodeId: string, index: number): string {
  return `gpunode-miner-${nodeId.slice(0, 8)}-gpu${index}`;
}

/** `<dataDir>/gpu-<index>`, or undefined when no data folder is configured. */
export function minerDataDir(dataDir: string, index: number): string | undefined {
  return dataDir ? join(dataDir, `gpu-${index}`) : undefined;
}

/** Pure: the container one GPU's miner runs in. Hardening is added by the engine's create mapping. */
export function minerSpec(opts: MiningOptions, index: number, deviceId: string): ContainerSpec {
  const res = opts.resources ?? DEFAULT_MINER_RESOURCES;
  const data = minerDataDir(opts.dataDir, index);
  const spec: ContainerSpec = {
    name: minerName(opts.nodeId, index),
    image: opts.image,
    labels: {
      ...workloadLabels({ kind: "miner", nodeId: opts.nodeId, gpuIds: [deviceId] }),
      [MINER_GPU_INDEX_LABEL]: String(index),
    },
    gpuDeviceIds: [deviceId],
    nanoCpus: res.nanoCpus,
    memoryBytes: res.memoryBytes,
    pidsLimit: res.pidsLimit,
    env: Object.fromEntries(opts.env.map((e) => [e.name, e.value])),
    // We restart miners ourselves, with backoff; the engine restarting them would race us.
    restart: { name: "no" },
  };
  if (res.shmBytes !== undefined) spec.shmBytes = res.shmBytes;
  if (opts.entrypoint) spec.entrypoint = [...opts.entrypoint];
  if (opts.args.length > 0) spec.cmd = [...opts.args];
  if (data) spec.mounts = [{ type: "data", source: data, target: MINER_DATA_TARGET }];
  return spec;
}

/** The GPU index of a miner of this node, from its labels; undefined for anything else (or unreadable). */
export function minerGpuIndex(labels: Record<string, string> | undefined, nodeId: string): number | undefined {
  const w = parseWorkloadLabels(labels);
  if (w?.kind !== "miner" || w.nodeId !== nodeId) return undefined;
  const raw = labels?.[MINER_GPU_INDEX_LABEL] ?? "";
  if (!/^\d{1,4}$/.test(raw)) return undefined;
  return Number(raw);
}
