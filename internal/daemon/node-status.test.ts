import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installFakeNvidiaSmi } from "../../test/fixtures/nvml/fake-nvidia-smi.js";
import { fakeNvmlConfig, nvidiaSmiCsv } from "../../test/fixtures/nvml/fake-nvml-config.js";
import { NvidiaSmiGpuSource } from "../nvml/nvidia-smi-gpu-source.js";
import { GpuActivity } from "../proto/gen/gpunode/v1/gpunode.js";
import { ALL_GPUS_FREE } from "./gpu-activity.js";
import { NodeStatus } from "./node-status.js";

/** NodeStatus over the nvidia-smi stand-in, which fails (exit 1) while its CSV file is missing. */
describe("NodeStatus when the whole GPU read fails", () => {
  let dir: string;
  let smi: string;
  let csv: string;
  const saved = process.env.FAKE_NVIDIA_SMI_CSV;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "node-status-"));
    smi = await installFakeNvidiaSmi(join(dir, "bin"));
    csv = join(dir, "gpus.csv");
    process.env.FAKE_NVIDIA_SMI_CSV = csv;
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.FAKE_NVIDIA_SMI_CSV;
    else process.env.FAKE_NVIDIA_SMI_CSV = saved;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const statusOver = (source: NvidiaSmiGpuSource) =>
    new NodeStatus(
      { host: "127.0.0.1", apiPort: 8444, pricePerSecWei: "1", hubAddress: "hub:8443" },
      {
        gpus: source,
        activity: ALL_GPUS_FREE,
        notices: ["a notice from start-up"],
        dockerVersion: () => "",
        containerToolkitVersion: () => "",
        rentals: () => [],
        miners: () => [],
        link: () => ({ connected: true, heartbeatsSent: 0, reconnects: 0 }),
        identity: () => ({ nodeId: "node-1", certificateNotAfter: "" }),
        draining: () => false,
        metrics: null,
      },
    );

  it("keeps heartbeating the last known GPUs, unhealthy with the error, and recovers when reads do", async () => {
    const config = fakeNvmlConfig(2);
    await writeFile(csv, nvidiaSmiCsv(config));
    const status = statusOver(new NvidiaSmiGpuSource({ path: smi }));
    expect((await status.heartbeat(1)).gpus.map((g) => g.healthy)).toEqual([true, true]);

    await rename(csv, `${csv}.away`);
    const hb = await status.heartbeat(2);
    expect(hb.gpus.map((g) => g.uuid)).toEqual(config.gpus.map((g) => g.uuid));
    for (const g of hb.gpus) {
      expect(g).toMatchObject({ healthy: false, activity: GpuActivity.GPU_ACTIVITY_UNHEALTHY, utilizationGpuPercent: 0, memoryTotalBytes: config.gpus[0]?.mem_total });
      expect(g.error).toMatch(/nvidia-smi failed \(exit 1\)/);
    }
    expect(hb.versions?.driver).toBe(config.driver);
    expect(status.knownGpus().every((g) => !g.healthy)).toBe(true);
    expect((await status.info()).notices).toEqual(["a notice from start-up", expect.stringMatching(/^GPUs could not be read: .*nvidia-smi failed/)]);

    await rename(`${csv}.away`, csv);
    expect((await status.heartbeat(3)).gpus.map((g) => [g.healthy, g.error])).toEqual([[true, ""], [true, ""]]);
    expect((await status.info()).notices).toEqual(["a notice from start-up"]);
  });

  it("registers with no GPUs and the error when the very first read fails", async () => {
    const status = statusOver(new NvidiaSmiGpuSource({ path: join(dir, "bin", "missing-nvidia-smi") }));
    const info = await status.info();
    expect(info.gpus).toEqual([]);
    expect(info.notices).toContainEqual(expect.stringMatching(/GPUs could not be read: .*missing-nvidia-smi not found/));
    expect((await status.heartbeat(1)).gpus).toEqual([]);
  });

  it("still gives up when the read is cancelled (shutting down)", async () => {
    await writeFile(csv, nvidiaSmiCsv(fakeNvmlConfig(1)));
    const abort = new AbortController();
    abort.abort(new Error("stopping"));
    await expect(statusOver(new NvidiaSmiGpuSource({ path: smi })).heartbeat(1, abort.signal)).rejects.toThrow();
  });
});
