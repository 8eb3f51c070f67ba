import { describe, expect, it } from "vitest";
import type { ContainerSpec } from "./container-spec.js";
import { toCreateOptions, WORKLOAD_CAPABILITIES } from "./create-options.js";
import { ContainerError } from "./errors.js";

const base: ContainerSpec = {
  name: "rental-r1",
  image: "pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime",
  labels: { "io.gpunode.kind": "rental" },
  gpuDeviceIds: [],
  nanoCpus: 4_000_000_000,
  memoryBytes: 16 * 2 ** 30,
  pidsLimit: 2048,
};

describe("toCreateOptions: hardening every workload gets", () => {
  const body = toCreateOptions(base);

  it.each([
    ["Privileged", false],
    ["CapDrop", ["ALL"]],
    ["CapAdd", [...WORKLOAD_CAPABILITIES]],
    ["SecurityOpt", ["no-new-privileges:true"]],
    ["PidsLimit", 2048],
    ["Memory", 16 * 2 ** 30],
    ["MemorySwap", 16 * 2 ** 30],
    ["NanoCpus", 4_000_000_000],
    ["NetworkMode", "bridge"],
    ["RestartPolicy", { Name: "no" }],
    ["Mounts", []],
    ["LogConfig", { Type: "json-file", Config: { "max-size": "10m", "max-file": "3" } }],
  ])("HostConfig.%s = %j", (key, value) => {
    expect(body.HostConfig[key as keyof typeof body.HostConfig]).toEqual(value);
  });

  it("asks for no GPU and hides any the image names", () => {
    expect(body.HostConfig.DeviceRequests).toBeUndefined();
    expect(body.Env).toEqual(["NVIDIA_VISIBLE_DEVICES=void"]);
  });

  it("leaves out what the spec does not set", () => {
    expect(body).not.toHaveProperty("Cmd");
    expect(body).not.toHaveProperty("Entrypoint");
    expect(body).not.toHaveProperty("ExposedPorts");
    expect(body.HostConfig).not.toHaveProperty("ShmSize");
    expect(body.HostConfig).not.toHaveProperty("PortBindings");
    expect(body.HostConfig).not.toHaveProperty("StorageOpt");
  });
});

describe("toCreateOptions: mapping", () => {
  it.each<[string, Partial<ContainerSpec>, (b: ReturnType<typeof toCreateOptions>) => unknown, unknown]>([
    [
      "GPUs by index",
      { gpuDeviceIds: ["0", "2"] },
      (b) => b.HostConfig.DeviceRequests,
      [{ Driver: "nvidia", DeviceIDs: ["0", "2"], Capabilities: [["gpu"]] }],
    ],
    [
      "GPUs by UUID",
      { gpuDeviceIds: ["GPU-8f2b3c1e-0d4a-4e6b-9c1a-2b3c4d5e6f70"] },
      (b) => b.HostConfig.DeviceRequests?.[0]?.DeviceIDs,
      ["GPU-8f2b3c1e-0d4a-4e6b-9c1a-2b3c4d5e6f70"],
    ],
    ["GPU env follows the request", { gpuDeviceIds: ["1", "3"], env: { A: "x=y" } }, (b) => b.Env, ["A=x=y", "NVIDIA_VISIBLE_DEVICES=1,3"]],
    ["labels copied", { labels: { a: "1" } }, (b) => b.Labels, { a: "1" }],
    ["cmd and entrypoint", { cmd: ["-c", "true"], entrypoint: ["/bin/sh"] }, (b) => [b.Entrypoint, b.Cmd], [["/bin/sh"], ["-c", "true"]]],
    ["user and workdir", { user: "1000:1000", workingDir: "/work" }, (b) => [b.User, b.WorkingDir], ["1000:1000", "/work"]],
    ["shm size", { shmBytes: 2 ** 30 }, (b) => b.HostConfig.ShmSize, 2 ** 30],
    ["network none", { networkMode: "none" }, (b) => b.HostConfig.NetworkMode, "none"],
    ["a network of its own", { networkMode: "gpunode-rental-r1" }, (b) => b.HostConfig.NetworkMode, "gpunode-rental-r1"],
    ["writable layer limit", { storageSizeBytes: 50 * 2 ** 30 }, (b) => b.HostConfig.StorageOpt, { size: String(50 * 2 ** 30) }],
    ["restart unless-stopped", { restart: { name: "unless-stopped" } }, (b) => b.HostConfig.RestartPolicy, { Name: "unless-stopped" }],
    [
      "restart on-failure",
      { restart: { name: "on-failure", maximumRetryCount: 3 } },
      (b) => b.HostConfig.RestartPolicy,
      { Name: "on-failure", MaximumRetryCount: 3 },
    ],
    [
      "named volume",
      { mounts: [{ type: "volume", name: "rental-r1-data", target: "/workspace" }] },
      (b) => b.HostConfig.Mounts,
      [{ Type: "volume", Source: "rental-r1-data", Target: "/workspace", ReadOnly: false }],
    ],
    [
      "helper dir, read-only",
      { mounts: [{ type: "bind", source: "/opt/gpunode/helpers/", target: "/.gpunode", readOnly: true }] },
      (b) => b.HostConfig.Mounts,
      [{ Type: "bind", Source: "/opt/gpunode/helpers/", Target: "/.gpunode", ReadOnly: true }],
    ],
    [
      "a workload's data folder, writable",
      { mounts: [{ type: "data", source: "/data/worldland/gpu-0/", target: "/data" }] },
      (b) => b.HostConfig.Mounts,
      [{ Type: "bind", Source: "/data/worldland/gpu-0/", Target: "/data", ReadOnly: false }],
    ],
    [
      "published ports",
      { publishPorts: [{ containerPort: 8888, protocol: "tcp" }, { containerPort: 8888, protocol: "tcp", hostPort: 18888, hostIp: "127.0.0.1" }] },
      (b) => [b.ExposedPorts, b.HostConfig.PortBindings],
      [{ "8888/tcp": {} }, { "8888/tcp": [{ HostIp: "", HostPort: "" }, { HostIp: "127.0.0.1", HostPort: "18888" }] }],
    ],
  ])("%s", (_name, over, pick, want) => {
    expect(pick(toCreateOptions({ ...base, ...over }))).toEqual(want);
  });

  it("does not share arrays with the spec", () => {
    const spec: ContainerSpec = { ...base, gpuDeviceIds: ["0"], cmd: ["a"] };
    const body = toCreateOptions(spec);
    spec.gpuDeviceIds.push("1");
    spec.cmd?.push("b");
    expect(body.HostConfig.DeviceRequests?.[0]?.DeviceIDs).toEqual(["0"]);
    expect(body.Cmd).toEqual(["a"]);
  });
});

describe("toCreateOptions: refused specs", () => {
  const bind = (source: string): Partial<ContainerSpec> => ({ mounts: [{ type: "bind", source, target: "/x", readOnly: true }] });

  it.each<[string, Partial<ContainerSpec>]>([
    ["the docker socket", bind("/var/run/docker.sock")],
    ["the docker socket via /run", bind("/run/docker.sock")],
    ["the socket's folder", bind("/var/run")],
    ["a parent of the socket", bind("/var")],
    ["the host root", bind("/")],
    ["a path that walks up", bind("/opt/../var/run/docker.sock")],
    ["containerd's socket folder", bind("/run/containerd/")],
    ["a relative bind source", bind("helpers")],
    ["a writable bind", { mounts: [{ type: "bind", source: "/opt/h", target: "/h", readOnly: false as true }] }],
    ["a data folder in /etc", { mounts: [{ type: "data", source: "/etc/miner", target: "/data" }] }],
    ["a data folder that is /usr", { mounts: [{ type: "data", source: "/usr", target: "/data" }] }],
    ["a data folder that walks up into /root", { mounts: [{ type: "data", source: "/data/../root/.ssh", target: "/data" }] }],
    ["a data folder holding the engine's socket", { mounts: [{ type: "data", source: "/var", target: "/data" }] }],
    ["a data folder that is the host root", { mounts: [{ type: "data", source: "/", target: "/data" }] }],
    ["a tmpfs or other mount type", { mounts: [{ type: "tmpfs", target: "/t" } as never] }],
    ["a relative mount target", { mounts: [{ type: "volume", name: "v", target: "data" }] }],
    ["a volume name with a slash (a host path in disguise)", { mounts: [{ type: "volume", name: "/etc", target: "/e" }] }],
    ["GPU selection through env", { env: { NVIDIA_VISIBLE_DEVICES: "all" } }],
    ["a GPU id list smuggled in one id", { gpuDeviceIds: ["0,1"] }],
    ["an empty GPU id", { gpuDeviceIds: [""] }],
    ["an env key with '='", { env: { "A=B": "c" } }],
    ["no memory limit", { memoryBytes: 0 }],
    ["no pids limit", { pidsLimit: -1 }],
    ["fractional nano-cpus", { nanoCpus: 1.5 }],
    ["a port out of range", { publishPorts: [{ containerPort: 70000, protocol: "tcp" }] }],
    ["negative retries", { restart: { name: "on-failure", maximumRetryCount: -1 } }],
    ["an empty image", { image: "" }],
    ["the host's network namespace", { networkMode: "host" }],
    ["another container's network namespace", { networkMode: "container:abc" }],
    ["a zero writable-layer limit", { storageSizeBytes: 0 }],
  ])("refuses %s", (_name, over) => {
    let err: unknown;
    try {
      toCreateOptions({ ...base, ...over });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ContainerError);
    expect((err as ContainerError).code).toBe("invalid_spec");
  });
});
