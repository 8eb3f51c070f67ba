import { spawn } from "node:child_process";
import { tcpReachable } from "../../internal/channel/tcp-probe.js";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { reserveFreePort } from "../../internal/util/net.js";

/** Debian's haproxy in front of hub replicas on loopback, as an operator runs it: TCP passthrough (nodes' mTLS ends at the hub). */
export interface Balancer {
  grpcPort: number;
  httpPort: number;
  stop(): Promise<void>;
}

export interface BalancerPorts {
  grpcPort: number;
  httpPort: number;
}

/** Free ports for the balancer, known before the hubs start (their SIWE domain names the balancer's HTTPS address). */
export async function balancerPorts(): Promise<BalancerPorts> {
  return { grpcPort: await reserveFreePort("127.0.0.1"), httpPort: await reserveFreePort("127.0.0.1") };
}

/**
 * Round robin over the replicas, each checked by a TCP connect every 300 ms: a dead replica is out
 * of the rotation after one failed check, and a connection refused by it is sent to another.
 */
export async function startBalancer(dir: string, ports: BalancerPorts, replicas: { grpcPort: number; httpPort: number }[]): Promise<Balancer> {
  const servers = (kind: "grpcPort" | "httpPort") => replicas.map((r, i) => `  server hub${i} 127.0.0.1:${r[kind]} check inter 300 fall 1 rise 1`).join("\n");
  const config = `global
  maxconn 4096
defaults
  mode tcp
  timeout connect 1s
  timeout client 1h
  timeout server 1h
  retries 3
  option redispatch
frontend grpc
  bind 127.0.0.1:${ports.grpcPort}
  default_backend hubs_grpc
backend hubs_grpc
  balance roundrobin
${servers("grpcPort")}
frontend https
  bind 127.0.0.1:${ports.httpPort}
  default_backend hubs_https
backend hubs_https
  balance roundrobin
${servers("httpPort")}
`;
  const file = join(dir, "haproxy.cfg");
  await writeFile(file, config);
  const proc = spawn("haproxy", ["-f", file, "-db"], { stdio: ["ignore", "ignore", "pipe"], env: { PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` } });
  let stderr = "";
  proc.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  proc.once("error", (err) => (stderr += err.message));
  const deadline = Date.now() + 10_000;
  while (!(await accepts(ports.grpcPort)) || !(await accepts(ports.httpPort))) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`haproxy did not start (run bash test/setup/engines.sh, which installs it): ${stderr.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    ...ports,
    stop: async () => {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      await exited;
    },
  };
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
const accepts = (port: number): Promise<boolean> => tcpReachable(`127.0.0.1:${port}`, 2_000);
