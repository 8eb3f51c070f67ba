import http from "node:http";
import type { AddressInfo } from "node:net";
import { collectDefaultMetrics, type Registry, Registry as RegistryClass } from "prom-client";
import { formatHostPort, type HostPort } from "../grpc/host-port.js";
import { AppError } from "../errors/app-error.js";

export class MetricsServerError extends AppError {
  readonly code = "metrics_listen";
  override readonly shownToUser = true;
  override readonly name = "MetricsServerError";
}

export interface MetricsServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** GET /metrics in Prometheus' text format, plain HTTP (bind it to loopback or a private network). */
export async function startMetricsServer(listen: HostPort, register: Registry): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("only GET /metrics here\n");
      return;
    }
    register.metrics().then(
      (body) => res.writeHead(200, { "content-type": register.contentType }).end(body),
      (err: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${(err as Error).message}\n`),
    );
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(new MetricsServerError(`cannot serve metrics on ${formatHostPort(listen)}: ${err.code === "EADDRINUSE" ? "the port is in use (pick another with -metrics-listen, or -metrics-listen= to turn metrics off)" : err.message}`)),
    );
    server.listen(listen.port, listen.host || undefined, () => resolve((server.address() as AddressInfo).port));
  });
  const host = listen.host || "127.0.0.1";
  return {
    port,
    url: `http://${formatHostPort({ host, port })}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A registry with Node's default process metrics (CPU, memory, event loop, GC, handles). */
export function processRegistry(): Registry {
  const register = new RegistryClass();
  collectDefaultMetrics({ register });
  return register;
}
