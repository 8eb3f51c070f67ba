/**
 * rental-hub as a child process, so that its CPU and memory are its own. Its JSON log is read
 * line by line: the "ready" line gives the ports; presence changes and errors are counted.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { createInterface } from "node:readline";

export interface HubProcessOptions {
  /** The compiled cmd/rental-hub/main.js. */
  mainJs: string;
  dataDir: string;
  databaseUrl?: string;
  heartbeatIntervalMs: number;
  /** 0 = any free port; a restart passes the ports of the first start. */
  grpcPort: number;
  httpPort: number;
  readyTimeoutMs: number;
  /** Options for the hub's node only, e.g. --cpu-prof --cpu-prof-dir=DIR (written when it exits on SIGTERM). */
  nodeArgs?: string[];
  /** Append the hub's log (stdout and stderr) here too. */
  logFile?: string;
  /** More rental-hub flags. */
  args?: string[];
}

/** What the hub's log said since the last reset. */
export class HubLogCounts {
  online = 0;
  offline = 0;
  connected = 0;
  streamsClosed = 0;
  errors = 0;
  warnings = 0;
  heartbeatWriteFailures = 0;
  firstError = "";

  reset(): void {
    Object.assign(this, new HubLogCounts());
  }
}

interface LogLine {
  level?: number;
  msg?: string;
  event?: string;
  grpcPort?: number;
  httpPort?: number;
  err?: { message?: string };
}

export class HubProcess {
  readonly counts = new HubLogCounts();
  private readonly stderrTail: string[] = [];
  grpcPort = 0;
  httpPort = 0;

  private constructor(private readonly child: ChildProcess) {}

  get pid(): number {
    return this.child.pid ?? 0;
  }

  static async start(opts: HubProcessOptions): Promise<HubProcess> {
    const args = [
      ...(opts.nodeArgs ?? []),
      opts.mainJs,
      "--grpc-listen", `127.0.0.1:${opts.grpcPort}`,
      "--http-listen", `127.0.0.1:${opts.httpPort}`,
      "--public-host", "127.0.0.1",
      "--data-dir", opts.dataDir,
      "--heartbeat-interval", `${opts.heartbeatIntervalMs}ms`,
      "--log-format", "json",
      // Every simulated client shares one loopback address: no per-address cap here.
      "--max-connections-per-ip", "0",
      ...(opts.databaseUrl ? ["--database-url", opts.databaseUrl] : []),
      ...(opts.args ?? []),
    ];
    const env = { ...process.env };
    delete env.HUB_DATABASE_URL; // the flag decides
    delete env.HUB_DATA_DIR;
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env });
    const hub = new HubProcess(child);
    if (opts.logFile) {
      const file = createWriteStream(opts.logFile, { flags: "a" });
      child.stdout?.pipe(file, { end: false });
      child.stderr?.pipe(file, { end: false });
      child.once("exit", () => file.end());
    }
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`rental-hub not ready after ${opts.readyTimeoutMs} ms: ${hub.stderrTail.join(" | ")}`)), opts.readyTimeoutMs);
      child.once("exit", (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`rental-hub exited (${code ?? sig}) before it was ready: ${hub.stderrTail.join(" | ")}`));
      });
      createInterface({ input: child.stdout! }).on("line", (line) => {
        const rec = hub.read(line);
        if (rec?.event === "ready") {
          hub.grpcPort = rec.grpcPort ?? 0;
          hub.httpPort = rec.httpPort ?? 0;
          clearTimeout(timer);
          resolve();
        }
      });
    });
    createInterface({ input: child.stderr! }).on("line", (line) => {
      hub.stderrTail.push(line.slice(0, 300));
      if (hub.stderrTail.length > 5) hub.stderrTail.shift();
    });
    try {
      await ready;
    } catch (err) {
      await hub.stop(2_000);
      throw err;
    }
    return hub;
  }

  private read(line: string): LogLine | undefined {
    let rec: LogLine;
    try {
      rec = JSON.parse(line) as LogLine;
    } catch {
      this.stderrTail.push(line.slice(0, 300));
      return undefined;
    }
    const c = this.counts;
    switch (rec.msg) {
      case "node online":
        c.online++;
        break;
      case "node offline":
        c.offline++;
        break;
      case "node connected":
        c.connected++;
        break;
      case "node stream closed":
        c.streamsClosed++;
        break;
      case "writing heartbeats failed; will retry":
        c.heartbeatWriteFailures++;
        break;
    }
    if ((rec.level ?? 0) >= 50) {
      c.errors++;
      c.firstError ||= `${rec.msg ?? ""}${rec.err?.message ? `: ${rec.err.message}` : ""}`.slice(0, 200);
    } else if ((rec.level ?? 0) >= 40) c.warnings++;
    return rec;
  }

  /** SIGKILL: a replica's death, nothing closed or flushed. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, "exit");
    this.child.kill("SIGKILL");
    await exited;
  }

  /** SIGTERM (the hub closes streams, flushes heartbeats, closes the store), SIGKILL after graceMs. */
  async stop(graceMs: number): Promise<{ graceful: boolean; ms: number }> {
    const t = Date.now();
    if (this.child.exitCode !== null || this.child.signalCode !== null) return { graceful: true, ms: 0 };
    const exited = once(this.child, "exit");
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
    return { graceful: this.child.signalCode !== "SIGKILL", ms: Date.now() - t };
  }
}
