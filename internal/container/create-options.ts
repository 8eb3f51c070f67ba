import { posix } from "node:path";
import type { ContainerMount, ContainerSpec, PortPublish, RestartPolicy } from "./container-spec.js";
import { ContainerError } from "./errors.js";

/**
 * Capabilities a renter's root shell keeps; everything else is dropped (CapDrop ALL).
 * Kept, and why:
 *  - CHOWN, DAC_OVERRIDE, FOWNER: root must own, read and chmod any file in its own container
 *    (package managers, tar/pip extracting archives, fixing permissions on a volume).
 *  - FSETID: keeps setuid/setgid bits when dpkg/tar rewrite files; no escalation follows because
 *    no-new-privileges makes those bits inert.
 *  - SETUID, SETGID: switching to another user (apt's _apt sandbox, `su user`, services that
 *    drop privileges).
 *  - KILL: signalling processes of other users inside the container.
 *  - NET_BIND_SERVICE: serving on ports below 1024 (a web demo on :80).
 *  - AUDIT_WRITE: PAM in `su`/`login` fails without it; it only writes audit records.
 * Dropped from Docker's default set: NET_RAW (raw packets: ARP/DNS spoofing of neighbours on the
 * shared bridge; costs `ping`), MKNOD (device nodes), SETPCAP and SETFCAP (capability games),
 * SYS_CHROOT (no shell need; one less escape primitive).
 */
export const WORKLOAD_CAPABILITIES = [
  "CHOWN",
  "DAC_OVERRIDE",
  "FOWNER",
  "FSETID",
  "SETUID",
  "SETGID",
  "KILL",
  "NET_BIND_SERVICE",
  "AUDIT_WRITE",
] as const;

/** A renter's output must not fill the node's disk: the engine rotates the log files. */
export const WORKLOAD_LOG_CONFIG = { Type: "json-file", Config: { "max-size": "10m", "max-file": "3" } };

/** Env keys the spec may not set: GPU selection goes through gpuDeviceIds only. */
const RESERVED_ENV = new Set(["NVIDIA_VISIBLE_DEVICES", "NVIDIA_MIG_CONFIG_DEVICES", "NVIDIA_MIG_MONITOR_DEVICES"]);

/** The engine's socket lives under these; binding any of them (or a parent) hands over the host. */
const ENGINE_SOCKET_DIRS = ["/var/run/docker.sock", "/run/docker.sock", "/var/run/docker", "/run/docker", "/run/containerd", "/var/run/containerd"];
/** A writable bind inside (or of) one of these would let a workload rewrite the host. */
const SYSTEM_DIRS = ["/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/boot", "/proc", "/sys", "/dev", "/root", "/run", "/var/run"];

/** The Docker Engine API create body (POST /containers/create), only the fields we set. */
export interface DockerCreateBody {
  name: string;
  Image: string;
  Labels: Record<string, string>;
  Env: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  WorkingDir?: string;
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  HostConfig: DockerHostConfig;
}

export interface DockerHostConfig {
  Privileged: false;
  CapDrop: string[];
  CapAdd: string[];
  SecurityOpt: string[];
  PidsLimit: number;
  Memory: number;
  MemorySwap: number;
  NanoCpus: number;
  ShmSize?: number;
  NetworkMode: string;
  RestartPolicy: { Name: string; MaximumRetryCount?: number };
  LogConfig: { Type: string; Config: Record<string, string> };
  Mounts: DockerMount[];
  PortBindings?: Record<string, Array<{ HostIp: string; HostPort: string }>>;
  DeviceRequests?: Array<{ Driver: string; Count?: number; DeviceIDs: string[]; Capabilities: string[][] }>;
  /** Only `size` (bytes, as text): the writable layer's limit. */
  StorageOpt?: { size: string };
}

export interface DockerMount {
  Type: "volume" | "bind";
  Source: string;
  Target: string;
  ReadOnly: boolean;
}

/** Pure: spec -> create body, with the hardening every workload gets. Throws ContainerError "invalid_spec". */
export function toCreateOptions(spec: ContainerSpec): DockerCreateBody {
  if (!spec.name) invalid("name is empty");
  if (!spec.image) invalid("image is empty");
  positiveInt("nanoCpus", spec.nanoCpus);
  positiveInt("memoryBytes", spec.memoryBytes);
  positiveInt("pidsLimit", spec.pidsLimit);
  if (spec.shmBytes !== undefined) positiveInt("shmBytes", spec.shmBytes);
  if (spec.storageSizeBytes !== undefined) positiveInt("storageSizeBytes", spec.storageSizeBytes);
  if (spec.networkMode !== undefined) networkMode(spec.networkMode);
  for (const id of spec.gpuDeviceIds) {
    if (!/^[A-Za-z0-9-]+$/.test(id)) invalid(`GPU id ${JSON.stringify(id)} is not an index or UUID`);
  }
  const gpus = spec.gpuDeviceIds.length > 0;

  const body: DockerCreateBody = {
    name: spec.name,
    Image: spec.image,
    Labels: { ...spec.labels },
    Env: [...envList(spec.env), gpuEnv(spec.gpuDeviceIds)],
    HostConfig: {
      Privileged: false,
      CapDrop: ["ALL"],
      CapAdd: [...WORKLOAD_CAPABILITIES],
      SecurityOpt: ["no-new-privileges:true"],
      PidsLimit: spec.pidsLimit,
      Memory: spec.memoryBytes,
      MemorySwap: spec.memoryBytes,
      NanoCpus: spec.nanoCpus,
      NetworkMode: spec.networkMode ?? "bridge",
      RestartPolicy: restartPolicy(spec.restart ?? { name: "no" }),
      LogConfig: WORKLOAD_LOG_CONFIG,
      Mounts: (spec.mounts ?? []).map(toMount),
    },
  };
  if (spec.cmd) body.Cmd = [...spec.cmd];
  if (spec.entrypoint) body.Entrypoint = [...spec.entrypoint];
  if (spec.workingDir) body.WorkingDir = spec.workingDir;
  if (spec.user) body.User = spec.user;
  if (spec.shmBytes !== undefined) body.HostConfig.ShmSize = spec.shmBytes;
  if (spec.storageSizeBytes !== undefined) body.HostConfig.StorageOpt = { size: String(spec.storageSizeBytes) };
  if (spec.publishPorts?.length) {
    const { exposed, bindings } = ports(spec.publishPorts);
    body.ExposedPorts = exposed;
    body.HostConfig.PortBindings = bindings;
  }
  if (gpus) {
    body.HostConfig.DeviceRequests = [
      { Driver: "nvidia", DeviceIDs: [...spec.gpuDeviceIds], Capabilities: [["gpu"]] },
    ];
  }
  return body;
}

function envList(env: Record<string, string> | undefined): string[] {
  return Object.entries(env ?? {}).map(([k, v]) => {
    if (!k || k.includes("=")) invalid(`env key ${JSON.stringify(k)} is not valid`);
    if (RESERVED_ENV.has(k)) invalid(`env ${k} is reserved: ask for GPUs with gpuDeviceIds`);
    return `${k}=${v}`;
  });
}

/**
 * Set even though the engine derives it from DeviceRequests: an image may bake in
 * NVIDIA_VISIBLE_DEVICES=all, which a host running the NVIDIA runtime by default would honour.
 * "void" is the toolkit's value for "no GPU".
 */
function gpuEnv(ids: string[]): string {
  return `NVIDIA_VISIBLE_DEVICES=${ids.length > 0 ? ids.join(",") : "void"}`;
}

function toMount(m: ContainerMount): DockerMount {
  absolute("mount target", m.target);
  if (m.type === "volume") {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(m.name)) invalid(`volume name ${JSON.stringify(m.name)} is not valid`);
    return { Type: "volume", Source: m.name, Target: m.target, ReadOnly: m.readOnly ?? false };
  }
  // The types already forbid these; specs built from JSON (hub requests, config) get checked here.
  const bind = m as { type: string; source: string; readOnly?: unknown };
  if (bind.type !== "bind" && bind.type !== "data") invalid(`mount type ${JSON.stringify(bind.type)} is not allowed`);
  absolute("bind source", bind.source);
  if (bind.type === "bind" && bind.readOnly !== true) invalid(`bind ${bind.source} must be read-only`);
  const source = posix.normalize(bind.source);
  const within = (dir: string): boolean => dir === source || source.startsWith(`${dir}/`);
  for (const s of ENGINE_SOCKET_DIRS) {
    // The socket itself, anything inside its folder, or a parent folder (/, /var, /run) exposes it.
    if (within(s) || s.startsWith(source === "/" ? "/" : `${source}/`)) invalid(`bind ${bind.source} would expose the container engine's socket`);
  }
  const writable = bind.type === "data";
  if (writable && SYSTEM_DIRS.some(within)) invalid(`writable bind ${bind.source} is inside a system folder`);
  return { Type: "bind", Source: source, Target: m.target, ReadOnly: !writable };
}

function ports(list: PortPublish[]): {
  exposed: NonNullable<DockerCreateBody["ExposedPorts"]>;
  bindings: NonNullable<DockerHostConfig["PortBindings"]>;
} {
  const exposed: NonNullable<DockerCreateBody["ExposedPorts"]> = {};
  const bindings: NonNullable<DockerHostConfig["PortBindings"]> = {};
  for (const p of list) {
    port("containerPort", p.containerPort);
    if (p.hostPort !== undefined) port("hostPort", p.hostPort);
    const key = `${p.containerPort}/${p.protocol}`;
    exposed[key] = {};
    (bindings[key] ??= []).push({ HostIp: p.hostIp ?? "", HostPort: p.hostPort === undefined ? "" : String(p.hostPort) });
  }
  return { exposed, bindings };
}

/** The host's network namespace, or another container's, would undo every network boundary. */
function networkMode(mode: string): void {
  if (mode === "host" || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(mode)) invalid(`network mode ${JSON.stringify(mode)} is not allowed: "bridge", "none" or a network's name`);
}

function restartPolicy(r: RestartPolicy): DockerHostConfig["RestartPolicy"] {
  if (r.name === "on-failure") {
    if (!Number.isInteger(r.maximumRetryCount) || r.maximumRetryCount < 0) invalid("maximumRetryCount must be >= 0");
    return { Name: r.name, MaximumRetryCount: r.maximumRetryCount };
  }
  return { Name: r.name };
}

function absolute(what: string, p: string): void {
  if (!p.startsWith("/") || p.split("/").includes("..")) invalid(`${what} ${JSON.stringify(p)} must be an absolute path without ".."`);
}

function positiveInt(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n <= 0) invalid(`${what} must be a positive integer, got ${n}`);
}

function port(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 65535) invalid(`${what} ${n} is not a port`);
}

function invalid(msg: string): never {
  throw new ContainerError("invalid_spec", msg);
}
