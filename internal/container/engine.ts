import type { Readable, Writable } from "node:stream";
import type { ContainerSpec } from "./container-spec.js";

/**
 * What the daemon needs from a container engine, in our own types. The only implementation today
 * is DockerodeEngine; services take this interface so tests can hand them a fake.
 * Every call that talks to the engine takes an AbortSignal; an aborted call rejects with the
 * signal's reason. Engine failures reject with ContainerError (see errors.ts).
 */
export interface ContainerEngine {
  /** Resolves when the engine answers. */
  ping(signal?: AbortSignal): Promise<void>;
  version(signal?: AbortSignal): Promise<EngineVersion>;
  imageExists(ref: string, signal?: AbortSignal): Promise<boolean>;
  /**
   * Pulls until done; gives up after `stallTimeoutMs` without a progress event ("pull_stalled").
   * An image the registry lacks is "image_not_found"; an unreachable registry is "pull_failed".
   */
  pullImage(ref: string, opts: PullOptions): Promise<void>;
  /** Creates and starts a container; a container that fails to start is removed again. Returns its id. */
  createAndStart(spec: ContainerSpec, signal?: AbortSignal): Promise<string>;
  /** SIGTERM, then SIGKILL after `timeoutSec`. Stopping a stopped container succeeds. */
  stop(id: string, timeoutSec: number, signal?: AbortSignal): Promise<void>;
  /** Removing a container that does not exist succeeds: the caller wanted it gone. */
  remove(id: string, opts?: RemoveOptions): Promise<void>;
  /** Rejects with code "not_found" for an unknown id or name. */
  inspect(id: string, signal?: AbortSignal): Promise<ContainerState>;
  /** Running and stopped containers, optionally only those carrying the given labels. */
  list(filter?: ListFilter, signal?: AbortSignal): Promise<ContainerSummary[]>;
  /** Resolves when the container is not running (at once if it already exited). */
  wait(id: string, signal?: AbortSignal): Promise<ExitInfo>;
  /**
   * The last `tail` lines of stdout and stderr, in the order the engine stored them: it copies the
   * two streams separately, so lines written to both within a moment may swap.
   */
  logs(id: string, opts: LogsOptions): Promise<string>;
  /** Starts a process in a running container; see ExecSession. */
  exec(id: string, opts: ExecOptions): Promise<ExecSession>;
  /**
   * Subscribes to container start/die/oom events. Resolves once the engine has accepted the
   * subscription, so "subscribe, then list" misses nothing. The iterable ends when `signal`
   * aborts and throws ContainerError "stream_lost" if the engine ends it first.
   */
  events(signal: AbortSignal): Promise<AsyncIterable<ContainerEvent>>;
  /** Creates a bridge network; a name already taken is ContainerError "conflict". */
  createNetwork(spec: NetworkSpec, signal?: AbortSignal): Promise<NetworkInfo>;
  /** Removing a network that does not exist succeeds; one with containers still on it is "conflict". */
  removeNetwork(idOrName: string, signal?: AbortSignal): Promise<void>;
  /** Rejects with code "not_found" for an unknown id or name. */
  inspectNetwork(idOrName: string, signal?: AbortSignal): Promise<NetworkInfo>;
  /** Networks, optionally only those carrying the given labels. */
  listNetworks(filter?: ListFilter, signal?: AbortSignal): Promise<NetworkInfo[]>;
}

export interface NetworkSpec {
  name: string;
  labels: Record<string, string>;
  /** The bridge driver's options (com.docker.network.bridge.name, ...mtu, ...). */
  options: Record<string, string>;
}

export interface NetworkInfo {
  id: string;
  name: string;
  driver: string;
  labels: Record<string, string>;
  options: Record<string, string>;
  /** IPv4/IPv6 subnets the engine's IPAM gave it (CIDR). */
  subnets: string[];
}

export interface EngineVersion {
  version: string;
  apiVersion: string;
  os: string;
  arch: string;
}

export interface PullProgress {
  status: string;
  /** Layer id, when the event is about one layer. */
  layer?: string;
  currentBytes?: number;
  totalBytes?: number;
}

export interface PullOptions {
  onProgress?: (p: PullProgress) => void;
  stallTimeoutMs: number;
  signal?: AbortSignal;
}

export interface RemoveOptions {
  /** Kill a running container first. */
  force?: boolean;
  signal?: AbortSignal;
}

export interface ListFilter {
  /** key -> value to match exactly, or `true` to match any value of the key. */
  labels?: Record<string, string | true>;
}

export interface PublishedPort {
  containerPort: number;
  protocol: "tcp" | "udp";
  hostIp: string;
  hostPort: number;
}

export interface ContainerState {
  id: string;
  /** Without Docker's leading "/". */
  name: string;
  image: string;
  labels: Record<string, string>;
  running: boolean;
  /** Docker's state word: created, running, paused, restarting, removing, exited, dead. */
  status: string;
  exitCode: number;
  oomKilled: boolean;
  /** The engine's reason when the container failed to start; empty otherwise. */
  error: string;
  /** Undefined before the first start / first exit. */
  startedAt?: Date;
  finishedAt?: Date;
  /** GPUs handed to the container through a device request (indexes or UUIDs, as asked). */
  gpuDeviceIds: string[];
  ports: PublishedPort[];
  /** Address on the container's network (the host reaches bridge addresses directly); "" if none. */
  ipAddress: string;
  /** The user its processes run as (the image's USER unless the spec set one); "" means root. */
  user: string;
}

export interface ContainerSummary {
  id: string;
  name: string;
  image: string;
  labels: Record<string, string>;
  running: boolean;
  status: string;
}

export interface ExitInfo {
  exitCode: number;
  oomKilled: boolean;
}

export interface LogsOptions {
  tail: number;
  signal?: AbortSignal;
}

export interface ExecOptions {
  cmd: string[];
  tty: boolean;
  /** Open a stdin stream to the process. */
  stdin: boolean;
  env?: Record<string, string>;
  /** user[:group], by name or id; the image's default when absent. */
  user?: string;
  workingDir?: string;
  /** Aborting ends the session: the streams are destroyed and wait() rejects. */
  signal?: AbortSignal;
}

/**
 * A running exec, shaped for bridging to an SSH channel: pipe channel -> stdin, stdout -> channel,
 * stderr -> channel.stderr. Without a TTY stdout and stderr are separate; with one, everything
 * arrives on stdout and stderr just ends.
 */
export interface ExecSession {
  /** Undefined unless opened with `stdin: true`. end() closes the process's stdin. */
  readonly stdin: Writable | undefined;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** Only with a TTY: sets the terminal size the process sees. */
  resize(cols: number, rows: number, signal?: AbortSignal): Promise<void>;
  /** Resolves with the exit code once output has ended and the process is gone. */
  wait(signal?: AbortSignal): Promise<number>;
  /** Ends the session from our side (the process may keep running if it ignores the hangup). */
  close(): void;
}

export type ContainerEventType = "start" | "die" | "oom";

export interface ContainerEvent {
  type: ContainerEventType;
  id: string;
  name: string;
  /** The container's labels as the engine reported them with the event. */
  labels: Record<string, string>;
  /** Only for "die". */
  exitCode?: number;
  time: Date;
}
