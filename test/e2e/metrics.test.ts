import http from "node:http";
import { join } from "node:path";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildFakeNvml } from "../fixtures/nvml/build-fake-nvml.js";
import { type FakeNvmlConfig, fakeGpu, fakeNvmlConfig, writeFakeNvmlConfig } from "../fixtures/nvml/fake-nvml-config.js";
import type { Program } from "../support/program.js";
import { signIn } from "../support/renter.js";
import { startDaemon, tempDir, writeKeyFile } from "../support/stack.js";
import { nodeOnline, startTestHub, type TestHub } from "../support/test-hub.js";

function scrape(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
      })
      .on("error", reject);
  });
}

/** The value of one sample line, e.g. value(body, 'node_daemon_gpu_utilization_ratio{gpu="1",uuid="..."}'). */
function value(body: string, series: string): number | undefined {
  const line = body.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Prometheus /metrics of a real daemon process (stand-in GPUs) and of a real hub, scraped over HTTP. */
describe("Prometheus metrics", () => {
  let t: TestHub;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let daemon: Program;
  let daemonUrl: string;
  let nodeId: string;
  let config: FakeNvmlConfig;
  let nvmlPath: string;

  beforeAll(async () => {
    dir = await tempDir("metrics");
    t = await startTestHub({ heartbeatIntervalMs: 300, metricsListen: { host: "127.0.0.1", port: 0 } });
    nvmlPath = join(dir.path, "nvml.json");
    config = fakeNvmlConfig(2);
    config.gpus[1] = fakeGpu(1, { util_gpu: 42, temp: 66, power: 250_000 });
    await writeFakeNvmlConfig(nvmlPath, config);
    daemon = startDaemon(
      [
        "-hub", t.grpcTarget, "-hub-http", t.http.baseUrl, "-hub-ca-fingerprint", t.hub.info.caFingerprint, "-host", "127.0.0.1",
        "-private-key-file", await writeKeyFile(dir.path, Wallet.createRandom()), "-state-dir", join(dir.path, "state"),
        "-api-port", "0", "-api-listen-host", "127.0.0.1", "-nvml-library", await buildFakeNvml(), "-docker-socket", join(dir.path, "no-docker.sock"),
        "-metrics-listen", "127.0.0.1:0",
      ],
      { FAKE_NVML_CONFIG: nvmlPath },
    );
    daemonUrl = (await daemon.waitFor((l) => l.event === "metrics", "the metrics line")).url as string;
    nodeId = (await daemon.waitFor((l) => l.created === true, "registration")).nodeId as string;
    await nodeOnline(t, nodeId);
  });

  afterAll(async () => {
    await daemon?.kill("SIGKILL");
    await t?.close();
    await dir?.remove();
  });

  it("the daemon's: heartbeats sent rising, per-GPU gauges with the driver's numbers, hub link, draining, process metrics", async () => {
    expect(daemonUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const first = await scrape(daemonUrl);
    expect(first.status).toBe(200);
    expect(first.type).toContain("text/plain");
    const sent1 = value(first.body, "node_daemon_heartbeats_sent_total") ?? 0;
    expect(sent1).toBeGreaterThanOrEqual(1);
    await daemon.waitForNext((l) => typeof l.seq === "number" && l.seq > sent1 + 1, "two more heartbeats");
    const second = await scrape(daemonUrl);
    expect(value(second.body, "node_daemon_heartbeats_sent_total")).toBeGreaterThan(sent1);

    const gpu1 = `gpu="1",uuid="${config.gpus[1]?.uuid}"`;
    expect(value(second.body, `node_daemon_gpu_utilization_ratio{${gpu1}}`)).toBe(0.42);
    expect(value(second.body, `node_daemon_gpu_temperature_celsius{${gpu1}}`)).toBe(66);
    expect(value(second.body, `node_daemon_gpu_power_draw_watts{${gpu1}}`)).toBe(250);
    expect(value(second.body, `node_daemon_gpu_memory_total_bytes{${gpu1}}`)).toBe(config.gpus[1]?.mem_total);
    expect(value(second.body, `node_daemon_gpu_utilization_ratio{gpu="0",uuid="${config.gpus[0]?.uuid}"}`)).toBe(0.1);
    expect(value(second.body, "node_daemon_hub_connected")).toBe(1);
    expect(value(second.body, "node_daemon_hub_reconnects_total")).toBe(0);
    expect(value(second.body, "node_daemon_draining")).toBe(0);
    expect(value(second.body, "node_daemon_certificate_expiry_timestamp_seconds")).toBeGreaterThan(Date.now() / 1000);
    expect(value(second.body, 'node_daemon_rentals{state="running"}')).toBe(0);
    expect(second.body).toContain("# TYPE node_daemon_image_pull_seconds histogram");
    expect(second.body).toContain("# TYPE node_daemon_commands_total counter");
    expect(value(second.body, "process_cpu_user_seconds_total")).toBeGreaterThan(0);

    // A change in the driver's numbers reaches the gauge with the next heartbeat's sample.
    config.gpus[1] = fakeGpu(1, { util_gpu: 97, temp: 81, power: 650_000 });
    await writeFakeNvmlConfig(nvmlPath, config);
    const seen = await daemon.waitForNext((l) => typeof l.seq === "number", "the next heartbeat");
    await daemon.waitForNext((l) => typeof l.seq === "number" && l.seq > (seen.seq as number), "one after it");
    expect(value((await scrape(daemonUrl)).body, `node_daemon_gpu_utilization_ratio{${gpu1}}`)).toBe(0.97);
  });

  it("counts the commands the daemon answers, by type and outcome", async () => {
    await t.hub.channel.sendCommand(nodeId, { $case: "ping", value: { payload: "x", delayMs: 0 } }, { timeoutMs: 10_000 });
    await t.hub.channel.sendCommand(nodeId, { $case: "getRentalLogs", value: { rentalId: "none", tailLines: 1 } }, { timeoutMs: 10_000 });
    const body = (await scrape(daemonUrl)).body;
    expect(value(body, 'node_daemon_commands_total{type="ping",outcome="ok"}')).toBe(1);
    expect(value(body, 'node_daemon_commands_total{type="getRentalLogs",outcome="rentals_unavailable"}')).toBe(1);
    const hub = (await scrape(t.hub.info.metricsUrl ?? "")).body;
    expect(value(hub, 'rental_hub_commands_sent_total{type="ping",outcome="ok"}')).toBe(1);
  });

  it("the hub's: nodes connected and online, heartbeats received rising, rentals by status, sign-ins by outcome", async () => {
    const url = t.hub.info.metricsUrl ?? "";
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const first = (await scrape(url)).body;
    expect(value(first, "rental_hub_nodes_connected")).toBe(1);
    expect(value(first, "rental_hub_nodes_online")).toBe(1);
    expect(value(first, "rental_hub_nodes_draining")).toBe(0);
    expect(value(first, 'rental_hub_rentals{status="running"}')).toBe(0);
    expect(value(first, 'rental_hub_sign_ins_total{outcome="ok"}')).toBe(1); // the daemon's enrolment
    const received = value(first, "rental_hub_heartbeats_received_total") ?? 0;
    expect(received).toBeGreaterThanOrEqual(1);
    await daemon.waitForNext((l) => typeof l.seq === "number", "a heartbeat");
    await daemon.waitForNext((l) => typeof l.seq === "number", "another heartbeat");
    expect(value((await scrape(url)).body, "rental_hub_heartbeats_received_total")).toBeGreaterThan(received);

    await signIn(t.http, Wallet.createRandom());
    expect(value((await scrape(url)).body, 'rental_hub_sign_ins_total{outcome="ok"}')).toBe(2);
    expect((await scrape(url.replace("/metrics", "/other"))).status).toBe(404);
  });
});
