import Docker from "dockerode";
import type { Duplex, Readable } from "node:stream";
import { parseContainerEvent, SUBSCRIBED_EVENT_TYPES } from "./container-events.js";
import type { ContainerSpec } from "./container-spec.js";
import { toCreateOptions } from "./create-options.js";
import type {
  ContainerEngine,
  ContainerEvent,
  ContainerState,
  ContainerSummary,
  EngineVersion,
  ExecOptions,
  ExecSession,
  ExitInfo,
  ListFilter,
  LogsOptions,
  NetworkInfo,
  NetworkSpec,
  PublishedPort,
  PullOptions,
  PullProgress,
  RemoveOptions,
} from "./engine.js";
import { ContainerError, fromEngineError, type ErrorCodes } from "./errors.js";
import { execSession } from "./exec-session.js";
import { demuxBuffer } from "./stream-demux.js";
import { streamLines } from "./stream-lines.js";

export interface DockerodeEngineOptions {
  /** /var/run/docker.sock when absent. */
  socketPath?: string;
}

/**
 * Keys that detach a TTY exec from its process. The engine defaults to ctrl-p,ctrl-q, which a
 * renter's shell uses (readline history); this sequence is one nobody types.
 */
const EXEC_DETACH_KEYS = "ctrl-^,ctrl-_,ctrl-^,ctrl-_,ctrl-^,ctrl-_";

type DialOptions = Parameters<Docker["modem"]["dial"]>[0];

/** The engine writes this for "never" in StartedAt/FinishedAt. */
const ZERO_TIME_PREFIX = "0001-01-01";

/** ContainerEngine over the Docker Engine API; the only file that knows dockerode. */
/** How long a SIGKILLed container's exit waits for a late OOM notice. */
const OOM_GRACE_MS = 2_000;

export class DockerodeEngine implements ContainerEngine {
  private readonly docker: Docker;

  constructor(opts: DockerodeEngineOptions = {}) {
    this.docker = new Docker({ socketPath: opts.socketPath ?? "/var/run/docker.sock" });
  }

  async ping(signal?: AbortSignal): Promise<void> {
    await this.dial("ping", signal, { path: "/_ping", method: "GET", statusCodes: { 200: true, 500: "server error" } });
  }

  async version(signal?: AbortSignal): Promise<EngineVersion> {
    const v = await this.dial<Docker.DockerVersion>("version", signal, {
      path: "/version",
      method: "GET",
      statusCodes: { 200: true, 500: "server error" },
    });
    return { version: v.Version, apiVersion: v.ApiVersion, os: v.Os, arch: v.Arch };
  }

  async imageExists(ref: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.dial(`inspect image ${ref}`, signal, {
        path: `/images/${encodeURIComponent(ref)}/json`,
        method: "GET",
        statusCodes: { 200: true, 404: "no such image", 500: "server error" },
      });
      return true;
    } catch (err) {
      if (err instanceof ContainerError && err.code === "not_found") return false;
      throw err;
    }
  }

  async pullImage(ref: string, opts: PullOptions): Promise<void> {
    const stall = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, stall.signal]) : stall.signal;
    let timer: NodeJS.Timeout | undefined;
    // The watchdog measures silence, not total time: a big image that keeps reporting may take long.
    const rearm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(
        () => stall.abort(new ContainerError("pull_stalled", `pull ${ref}: no progress for ${opts.stallTimeoutMs} ms`)),
        opts.stallTimeoutMs,
      );
    };
    rearm();
    try {
      const stream = (await this.docker.pull(ref, { abortSignal: signal })) as Readable;
      destroyOnAbort(stream, signal);
      let failure: string | undefined;
      for await (const line of streamLines(stream)) {
        rearm();
        const ev = parseJson<PullEvent>(line);
        // The engine reports a failed pull inside a 200 stream, as an event with "error".
        if (ev?.error) failure = ev.errorDetail?.message ?? ev.error;
        else if (ev) opts.onProgress?.(toProgress(ev));
      }
      // An abort may end the stream quietly; never mistake that for a finished pull.
      signal.throwIfAborted();
      if (failure !== undefined) throw new ContainerError("pull_failed", `pull ${ref}: ${failure}`);
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      // No registry reachable, auth refused, …: the engine's words say which; callers only need "failed".
      throw fromEngineError(err, `pull ${ref}`, { on404: "image_not_found", otherwise: "pull_failed" });
    } finally {
      clearTimeout(timer);
    }
  }

  async createAndStart(spec: ContainerSpec, signal?: AbortSignal): Promise<string> {
    const body = toCreateOptions(spec);
    const container = await this.call(
      `create ${spec.name}`,
      signal,
      () => this.docker.createContainer({ ...body, abortSignal: signal }),
      { on404: "image_not_found" }, // the only 404 create can give: the image is not local
    ).catch((err: unknown) => {
      // overlay2 says "--storage-opt is supported only for overlay over xfs with 'pquota' mount option";
      // other drivers word it alike. The caller decides whether to go on without the limit.
      if (body.HostConfig.StorageOpt && err instanceof ContainerError && /storage[- ]?opt|quota/i.test(err.message)) {
        throw new ContainerError("storage_unsupported", err.message, { cause: err });
      }
      throw err;
    });
    try {
      // Failing here is the workload's fault (no such command, GPU refused), not the engine's.
      await this.call(`start ${spec.name}`, signal, () => container.start({ abortSignal: signal }), { otherwise: "start_failed" });
    } catch (err) {
      // A created-but-never-started container would hold the name and confuse adoption.
      await this.remove(container.id, { force: true }).catch((cleanup: unknown) => {
        const e = err instanceof ContainerError ? err : fromEngineError(err, `start ${spec.name}`);
        throw new ContainerError(e.code, `${e.message}; removing it failed too: ${String(cleanup)}`, { cause: err });
      });
      throw err;
    }
    return container.id;
  }

  async stop(id: string, timeoutSec: number, signal?: AbortSignal): Promise<void> {
    try {
      await this.docker.getContainer(id).stop({ t: timeoutSec, abortSignal: signal });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (statusOf(err) === 304) return; // already stopped
      throw fromEngineError(err, `stop ${id}`);
    }
  }

  async remove(id: string, opts: RemoveOptions = {}): Promise<void> {
    try {
      await this.call(`remove ${id}`, opts.signal, () =>
        // v: anonymous volumes (an image's VOLUME lines) go with it; named volumes never do.
        this.docker.getContainer(id).remove({ force: opts.force ?? false, v: true, abortSignal: opts.signal }),
      );
    } catch (err) {
      if (err instanceof ContainerError && err.code === "not_found") return;
      throw err;
    }
  }

  async inspect(id: string, signal?: AbortSignal): Promise<ContainerState> {
    const i = await this.call(`inspect ${id}`, signal, () => this.docker.getContainer(id).inspect({ abortSignal: signal }));
    const gpuDeviceIds = (i.HostConfig.DeviceRequests ?? [])
      .filter((r) => r.Driver === "nvidia" || (r.Capabilities ?? []).some((c) => c.includes("gpu")))
      .flatMap((r) => r.DeviceIDs ?? []);
    return {
      id: i.Id,
      name: i.Name.replace(/^\//, ""),
      image: i.Config.Image,
      labels: i.Config.Labels ?? {},
      running: i.State.Running,
      status: i.State.Status,
      exitCode: i.State.ExitCode,
      oomKilled: i.State.OOMKilled,
      error: i.State.Error,
      startedAt: toDate(i.State.StartedAt),
      finishedAt: toDate(i.State.FinishedAt),
      gpuDeviceIds,
      ports: toPorts(i.NetworkSettings.Ports),
      ipAddress: firstIp(i.NetworkSettings),
      user: i.Config.User ?? "",
    };
  }

  async list(filter: ListFilter = {}, signal?: AbortSignal): Promise<ContainerSummary[]> {
    const label = Object.entries(filter.labels ?? {}).map(([k, v]) => (v === true ? k : `${k}=${v}`));
    const rows = await this.call("list containers", signal, () =>
      this.docker.listContainers({ all: true, ...(label.length > 0 && { filters: { label } }), abortSignal: signal }),
    );
    return rows.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? "").replace(/^\//, ""),
      image: c.Image,
      labels: c.Labels ?? {},
      running: c.State === "running",
      status: c.State,
    }));
  }

  async wait(id: string, signal?: AbortSignal): Promise<ExitInfo> {
    const r = (await this.call(`wait ${id}`, signal, () =>
      this.docker.getContainer(id).wait({ abortSignal: signal }),
    )) as { StatusCode: number };
    // wait() does not say why it ended; inspect does, unless someone removed it meanwhile.
    const state = await this.inspect(id, signal).catch((err: unknown) => {
      if (err instanceof ContainerError && err.code === "not_found") return undefined;
      throw err;
    });
    let oomKilled = state?.oomKilled ?? false;
    if (!oomKilled && r.StatusCode === 137 && state) oomKilled = await this.lateOom(id, state.startedAt, signal);
    return { exitCode: r.StatusCode, oomKilled };
  }

  /**
   * The engine can handle a container's OOM notice just after its exit, so a SIGKILLed container
   * may not show OOMKilled yet. Its event history (replayed from the start) settles it: an "oom"
   * event already seen arrives at once, a late one within the grace period.
   */
  private async lateOom(id: string, since: Date | undefined, signal?: AbortSignal): Promise<boolean> {
    const grace = AbortSignal.timeout(OOM_GRACE_MS);
    const s = signal ? AbortSignal.any([signal, grace]) : grace;
    try {
      const stream = (await this.docker.getEvents({
        since: Math.floor(((since?.getTime() ?? Date.now()) - 1_000) / 1000),
        filters: { type: ["container"], container: [id], event: ["oom"] },
        abortSignal: s,
      })) as Readable;
      destroyOnAbort(stream, s);
      for await (const ev of eventLines(stream, s)) if (ev.type === "oom") return true;
      return false;
    } catch {
      if (signal?.aborted) throw signal.reason;
      return false;
    }
  }

  async logs(id: string, opts: LogsOptions): Promise<string> {
    const { signal } = opts;
    const tty = (await this.call(`inspect ${id}`, signal, () => this.docker.getContainer(id).inspect({ abortSignal: signal }))).Config.Tty;
    // Asked as a stream: dockerode parses a buffered body as JSON when it happens to be JSON.
    const stream = await this.dial<Readable>(`logs ${id}`, signal, {
      path: `/containers/${encodeURIComponent(id)}/logs?`,
      method: "GET",
      options: { stdout: true, stderr: true, follow: false, tail: String(opts.tail) },
      isStream: true,
      statusCodes: { 200: true, 404: "no such container", 500: "server error" },
    });
    if (signal) destroyOnAbort(stream, signal);
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of stream) chunks.push(chunk as Buffer);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw fromEngineError(err, `logs ${id}`);
    }
    const buf = Buffer.concat(chunks);
    return tty ? buf.toString("utf8") : demuxBuffer(buf);
  }

  async exec(id: string, opts: ExecOptions): Promise<ExecSession> {
    const { signal } = opts;
    const exec = await this.call(`exec in ${id}`, signal, () =>
      this.docker.getContainer(id).exec({
        Cmd: opts.cmd,
        AttachStdin: opts.stdin,
        AttachStdout: true,
        AttachStderr: true,
        Tty: opts.tty,
        Env: Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`),
        User: opts.user ?? "",
        WorkingDir: opts.workingDir ?? "",
        DetachKeys: EXEC_DETACH_KEYS,
        abortSignal: signal,
      }),
    );
    // With stdin the connection is hijacked (raw duplex); without, the response body is enough.
    const stream = (await this.call(`start exec in ${id}`, signal, () =>
      exec.start({ hijack: opts.stdin, stdin: opts.stdin, Detach: false, Tty: opts.tty, abortSignal: signal }),
    )) as Duplex;
    return execSession({
      stream,
      tty: opts.tty,
      stdin: opts.stdin,
      signal,
      resize: (cols, rows, s) =>
        this.call(`resize exec in ${id}`, s, () => exec.resize({ w: cols, h: rows, abortSignal: s })).then(() => undefined),
      inspect: async (s) => {
        const i = await this.call(`inspect exec in ${id}`, s, () => exec.inspect({ abortSignal: s }));
        return { running: i.Running, exitCode: i.ExitCode };
      },
    });
  }

  async events(signal: AbortSignal): Promise<AsyncIterable<ContainerEvent>> {
    const stream = (await this.call("subscribe to events", signal, () =>
      this.docker.getEvents({
        filters: { type: ["container"], event: [...SUBSCRIBED_EVENT_TYPES] },
        abortSignal: signal,
      }),
    )) as Readable;
    destroyOnAbort(stream, signal);
    return eventLines(stream, signal);
  }

  async createNetwork(spec: NetworkSpec, signal?: AbortSignal): Promise<NetworkInfo> {
    const created = await this.dial<{ Id: string }>(`create network ${spec.name}`, signal, {
      path: "/networks/create?",
      method: "POST",
      // CheckDuplicate: a second network of the same name is refused (409), not made beside it.
      options: { Name: spec.name, Driver: "bridge", CheckDuplicate: true, Attachable: false, Internal: false, EnableIPv6: false, Labels: spec.labels, Options: spec.options },
      statusCodes: { 200: true, 201: true, 400: "bad parameter", 403: "operation not supported", 404: "plugin not found", 409: "network exists", 500: "server error" },
    });
    return this.inspectNetwork(created.Id, signal);
  }

  async removeNetwork(idOrName: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.dial(`remove network ${idOrName}`, signal, {
        path: `/networks/${encodeURIComponent(idOrName)}`,
        method: "DELETE",
        statusCodes: { 200: true, 204: true, 403: "operation not supported", 404: "no such network", 409: "network has active endpoints", 500: "server error" },
      });
    } catch (err) {
      if (err instanceof ContainerError && err.code === "not_found") return;
      // 20.10 answers 403 "error while removing network: network ... has active endpoints".
      if (err instanceof ContainerError && /active endpoints/i.test(err.message)) throw new ContainerError("conflict", err.message, { cause: err });
      throw err;
    }
  }

  async inspectNetwork(idOrName: string, signal?: AbortSignal): Promise<NetworkInfo> {
    const n = await this.dial<Docker.NetworkInspectInfo>(`inspect network ${idOrName}`, signal, {
      path: `/networks/${encodeURIComponent(idOrName)}`,
      method: "GET",
      statusCodes: { 200: true, 404: "no such network", 500: "server error" },
    });
    return toNetworkInfo(n);
  }

  async listNetworks(filter: ListFilter = {}, signal?: AbortSignal): Promise<NetworkInfo[]> {
    const label = Object.entries(filter.labels ?? {}).map(([k, v]) => (v === true ? k : `${k}=${v}`));
    const rows = await this.dial<Docker.NetworkInspectInfo[]>("list networks", signal, {
      path: "/networks?",
      method: "GET",
      options: label.length > 0 ? { filters: JSON.stringify({ label }) } : {},
      statusCodes: { 200: true, 500: "server error" },
    });
    return rows.map(toNetworkInfo);
  }

  /** A raw API request, for calls whose dockerode wrapper drops the signal or mangles the body. */
  private dial<T>(what: string, signal: AbortSignal | undefined, options: DialOptions): Promise<T> {
    return this.call(what, signal, () =>
      new Promise<T>((resolve, reject) => {
        this.docker.modem.dial({ ...options, abortSignal: signal }, (err, result) => (err ? reject(err) : resolve(result as T)));
      }),
    );
  }

  /** Runs one engine call: an abort surfaces as the signal's reason, anything else as ContainerError. */
  private async call<T>(what: string, signal: AbortSignal | undefined, fn: () => Promise<T>, codes?: ErrorCodes): Promise<T> {
    signal?.throwIfAborted();
    try {
      return await fn();
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw fromEngineError(err, what, codes);
    }
  }
}

async function* eventLines(stream: Readable, signal: AbortSignal): AsyncGenerator<ContainerEvent> {
  try {
    for await (const line of streamLines(stream)) {
      const event = parseContainerEvent(line);
      if (event) yield event;
    }
  } catch (err) {
    if (signal.aborted) return;
    throw new ContainerError("stream_lost", "engine event stream failed", { cause: err });
  } finally {
    stream.destroy();
  }
  if (!signal.aborted) throw new ContainerError("stream_lost", "engine closed the event stream");
}

function parseJson<T>(line: string): T | undefined {
  try {
    return JSON.parse(line) as T;
  } catch {
    return undefined; // a torn line; the stream's own end or error decides the outcome
  }
}

/** docker-modem hands streaming bodies over without tying them to the request's signal. */
function destroyOnAbort(stream: Readable, signal: AbortSignal): void {
  if (signal.aborted) return void stream.destroy();
  const onAbort = (): void => void stream.destroy();
  signal.addEventListener("abort", onAbort, { once: true });
  stream.once("close", () => signal.removeEventListener("abort", onAbort));
}

interface PullEvent {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
}

function toProgress(ev: PullEvent): PullProgress {
  return {
    status: ev.status ?? "",
    ...(ev.id !== undefined && { layer: ev.id }),
    ...(ev.progressDetail?.current !== undefined && { currentBytes: ev.progressDetail.current }),
    ...(ev.progressDetail?.total !== undefined && { totalBytes: ev.progressDetail.total }),
  };
}

function statusOf(err: unknown): number | undefined {
  return typeof err === "object" && err !== null && "statusCode" in err ? (err.statusCode as number) : undefined;
}

function toDate(s: string | undefined): Date | undefined {
  return !s || s.startsWith(ZERO_TIME_PREFIX) ? undefined : new Date(s);
}

function toPorts(ports: Record<string, Array<{ HostIp: string; HostPort: string }> | null> | undefined): PublishedPort[] {
  const out: PublishedPort[] = [];
  for (const [key, bindings] of Object.entries(ports ?? {})) {
    const [port, protocol] = key.split("/");
    if (protocol !== "tcp" && protocol !== "udp") continue;
    for (const b of bindings ?? []) {
      out.push({ containerPort: Number(port), protocol, hostIp: b.HostIp, hostPort: Number(b.HostPort) });
    }
  }
  return out;
}

function toNetworkInfo(n: Docker.NetworkInspectInfo): NetworkInfo {
  return {
    id: n.Id,
    name: n.Name,
    driver: n.Driver,
    labels: n.Labels ?? {},
    options: n.Options ?? {},
    subnets: (n.IPAM?.Config ?? []).flatMap((c) => (c.Subnet ? [c.Subnet] : [])),
  };
}

/** The container's address on its first network with one (the bridge, usually); "" without a network. */
function firstIp(settings: { IPAddress?: string; Networks?: Record<string, { IPAddress?: string }> }): string {
  if (settings.IPAddress) return settings.IPAddress;
  for (const net of Object.values(settings.Networks ?? {})) if (net.IPAddress) return net.IPAddress;
  return "";
}
