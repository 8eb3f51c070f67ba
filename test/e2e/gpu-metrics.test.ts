import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildFakeNvml } from "../fixtures/nvml/build-fake-nvml.js";
import { installFakeNvidiaSmi } from "../fixtures/nvml/fake-nvidia-smi.js";
import { fakeGpu, fakeNvmlConfig, nvidiaSmiCsv, writeFakeNvmlConfig, type FakeNvmlConfig } from "../fixtures/nvml/fake-nvml-config.js";
import type { Program } from "../support/program.js";
import { daemonArgs, getJson, type HubProcess, startDaemon, startHub, tempDir, writeKeyFile } from "../support/stack.js";

interface GpuStatusJson {
  index: number;
  uuid: string;
  name: string;
  activity: string;
  healthy: boolean;
  error?: string;
  utilizationGpuPercent?: number;
  temperatureCelsius?: number;
  powerDrawMilliwatts?: number;
  memoryTotalBytes?: number;
}

interface NodeJson {
  status: string;
  gpus: { index: number; uuid: string; name: string; memoryTotalBytes: number }[];
  versions: Record<string, string>;
  lastHeartbeat: { seq: number; body: { seq: number; gpus?: GpuStatusJson[] } } | null;
}

/** The NVML stand-in behind a real daemon process, seen through a real hub. */
describe("GPU inventory and metrics end to end", () => {
  const programs: Program[] = [];
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let hub: HubProcess;
  let lib: string;
  let configPath: string;
  let config: FakeNvmlConfig;

  beforeAll(async () => {
    dir = await tempDir("gpu-e2e");
    lib = await buildFakeNvml();
    hub = await startHub(join(dir.path, "hub"), { args: ["--heartbeat-interval", "500ms"] });
    programs.push(hub.program);
  });
  afterAll(async () => {
    await Promise.all(programs.map((p) => p.kill("SIGKILL")));
    await dir.remove();
  });

  async function daemonWith(name: string, extra: string[] = []) {
    configPath = join(dir.path, `${name}.json`);
    await writeFakeNvmlConfig(configPath, config);
    const key = await writeKeyFile(dir.path, Wallet.createRandom());
    const daemon = startDaemon(daemonArgs(hub, key, join(dir.path, name), ["-nvml-library", lib, "-docker-socket", join(dir.path, "no-docker.sock"), ...extra]), { FAKE_NVML_CONFIG: configPath });
    programs.push(daemon);
    const registered = await daemon.waitFor((l) => l.created === true, "registration");
    return { daemon, nodeId: registered.nodeId as string };
  }

  const node = (id: string) => getJson<NodeJson>(`${hub.httpUrl}/v1/nodes/${id}`);
  /** The hub's copy of a heartbeat the daemon sent after `seq`. */
  async function heartbeatAfter(daemon: Program, id: string, seq: number) {
    const sent = await daemon.waitFor((l) => typeof l.seq === "number" && l.seq > seq, `a heartbeat after #${seq}`);
    for (;;) {
      const n = await node(id);
      if ((n.lastHeartbeat?.seq ?? 0) >= (sent.seq as number)) return n;
      await daemon.waitForNext((l) => typeof l.seq === "number", "the next heartbeat");
    }
  }

  it("registers 8 GPUs and heartbeats their metrics; a change in the driver's numbers shows in the next heartbeat", async () => {
    config = fakeNvmlConfig(8);
    const { daemon, nodeId } = await daemonWith("eight");
    const registered = await node(nodeId);
    expect(registered.gpus.map((g) => g.uuid)).toEqual(config.gpus.map((g) => g.uuid));
    expect(registered.gpus[0]?.name).toBe("NVIDIA H100 80GB HBM3");
    expect(registered.versions.driver).toBe(config.driver);

    const first = await heartbeatAfter(daemon, nodeId, 0);
    const gpu3 = first.lastHeartbeat?.body.gpus?.[3];
    expect(gpu3).toMatchObject({ index: 3, healthy: true, activity: "GPU_ACTIVITY_FREE", utilizationGpuPercent: config.gpus[3]?.util_gpu, temperatureCelsius: config.gpus[3]?.temp });

    config.gpus[3] = fakeGpu(3, { util_gpu: 97, temp: 81, power: 650_000 });
    await writeFakeNvmlConfig(configPath, config);
    const seq = first.lastHeartbeat?.seq ?? 0;
    let later = await heartbeatAfter(daemon, nodeId, seq);
    // A heartbeat built just before the file changed may still carry the old numbers.
    if (later.lastHeartbeat?.body.gpus?.[3]?.utilizationGpuPercent !== 97) later = await heartbeatAfter(daemon, nodeId, later.lastHeartbeat?.seq ?? seq);
    expect(later.lastHeartbeat?.body.gpus?.[3]).toMatchObject({ utilizationGpuPercent: 97, temperatureCelsius: 81, powerDrawMilliwatts: 650_000 });
  });

  it("reports a lost GPU as unhealthy with NVML's error while the others still report", async () => {
    config = fakeNvmlConfig(3);
    config.gpus[1] = fakeGpu(1, { error: 15 }); // NVML_ERROR_GPU_IS_LOST
    const { daemon, nodeId } = await daemonWith("lost");
    const n = await heartbeatAfter(daemon, nodeId, 0);
    const gpus = n.lastHeartbeat?.body.gpus ?? [];
    expect(gpus).toHaveLength(3);
    expect(gpus[1]).toMatchObject({ healthy: false, activity: "GPU_ACTIVITY_UNHEALTHY" });
    expect(gpus[1]?.error).toMatch(/lost/i);
    expect(gpus[0]).toMatchObject({ healthy: true });
    expect(gpus[2]).toMatchObject({ healthy: true, utilizationGpuPercent: config.gpus[2]?.util_gpu });
  });

  it("keeps heartbeating when nvidia-smi stops answering: the same GPUs, unhealthy with its error, the node online", async () => {
    const bin = join(dir.path, "smi-bin");
    await installFakeNvidiaSmi(bin);
    const csv = join(dir.path, "smi.csv");
    const gpus = fakeNvmlConfig(2).gpus.map((g) => g.uuid);
    await writeFile(csv, nvidiaSmiCsv(fakeNvmlConfig(2)));
    const key = await writeKeyFile(dir.path, Wallet.createRandom());
    // No -nvml-library: startDaemon's missing library makes the daemon fall back to the stand-in on PATH.
    const daemon = startDaemon(daemonArgs(hub, key, join(dir.path, "smi"), ["-docker-socket", join(dir.path, "no-docker.sock")]), { PATH: `${bin}:/usr/bin:/bin`, FAKE_NVIDIA_SMI_CSV: csv });
    programs.push(daemon);
    const nodeId = (await daemon.waitFor((l) => l.created === true, "registration")).nodeId as string;
    const first = await heartbeatAfter(daemon, nodeId, 0);
    expect(first.lastHeartbeat?.body.gpus?.map((g) => g.healthy)).toEqual([true, true]);

    await rm(csv); // the stand-in now fails (exit 1), as nvidia-smi does when the driver hangs or goes away
    let n = await heartbeatAfter(daemon, nodeId, first.lastHeartbeat?.seq ?? 0);
    // A heartbeat built just before the file went may still be healthy.
    if (n.lastHeartbeat?.body.gpus?.[0]?.healthy !== false) n = await heartbeatAfter(daemon, nodeId, n.lastHeartbeat?.seq ?? 0);
    const failed = n.lastHeartbeat?.body.gpus ?? [];
    expect(failed.map((g) => g.uuid)).toEqual(gpus);
    for (const g of failed) {
      expect(g).toMatchObject({ healthy: false, activity: "GPU_ACTIVITY_UNHEALTHY" });
      expect(g.error).toMatch(/nvidia-smi failed \(exit 1\)/);
    }
    // More heartbeats than the hub's three-missed limit later, the node is still online.
    const later = await heartbeatAfter(daemon, nodeId, (n.lastHeartbeat?.seq ?? 0) + 3);
    expect(later.status).toBe("online");
    expect(daemon.output).not.toContain("could not build a heartbeat");
  });

  it("advertises -gpu-type and -memory-gb instead of what was detected", async () => {
    config = fakeNvmlConfig(1);
    const { daemon, nodeId } = await daemonWith("override", ["-gpu-type", "RTX 4090 (rebadged)", "-memory-gb", "24"]);
    const n = await heartbeatAfter(daemon, nodeId, 0);
    expect(n.gpus[0]).toMatchObject({ name: "RTX 4090 (rebadged)", memoryTotalBytes: 24 * 1024 ** 3 });
    expect(n.lastHeartbeat?.body.gpus?.[0]).toMatchObject({ name: "RTX 4090 (rebadged)", memoryTotalBytes: 24 * 1024 ** 3 });
  });
});
