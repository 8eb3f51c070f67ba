// The dashboard's GPU charts in Debian's Chromium: a hub in this process, a scripted node with two
// GPUs whose heartbeats carry metrics the test chooses, and a node without GPUs. The test checks
// what GET /v1/nodes/{id}/gpu-history returns (every value sent), what a person sees (a chart per
// GPU and metric, captioned with the GPU's name, the latest values beside them, the charts
// following new heartbeats) and writes screenshots to test-artifacts/.
import { mkdir } from "node:fs/promises";
import { Wallet } from "ethers";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { NodeGpuHistory } from "../../internal/hub/gpu-history.js";
import { requestJson } from "../../internal/httpclient/json-client.js";
import { GpuActivity, GpuStatus, type Heartbeat } from "../../internal/proto/gen/gpunode/v1/gpunode.js";
import { chromiumMissing, launchChromium, type TestBrowser } from "../support/browser.js";
import { enrollNode, nodeInfo, type ScriptedNode, startScriptedNode, startTestHub, type TestHub } from "../support/test-hub.js";

const GIB = 1024 ** 3;
const SCREENSHOT = "test-artifacts/dashboard-charts.png"; // the whole page
const SCREENSHOT_NODE = "test-artifacts/dashboard-charts-node.png"; // one node's charts, after a live heartbeat
const SCREENSHOT_HOUR = "test-artifacts/dashboard-charts-hour.png"; // a node with a whole hour behind it
const GPUS = [
  { index: 0, uuid: "GPU-charts-0", name: "NVIDIA H100 80GB HBM3", pciBusId: "00000000:01:00.0", memoryTotalBytes: 80 * GIB },
  { index: 1, uuid: "GPU-charts-1", name: "NVIDIA L40S", pciBusId: "00000000:02:00.0", memoryTotalBytes: 48 * GIB },
];
/** What each heartbeat says, per GPU: [utilisation %, memory used GiB, temperature °C]. */
const SENT: Array<[[number, number, number], [number, number, number]]> = [
  [[12, 4, 44], [0, 1, 35]],
  [[35, 18.5, 50], [9, 6, 38]],
  [[58, 40, 57], [3, 6, 39]],
  [[90, 64, 63], [40, 22, 47]],
  [[73, 61.25, 61], [66, 30, 52]],
];

/** A node busy for the last hour: GPU 0 starts a training job 40 minutes ago, GPU 1 serves bursts. */
const BUSY_GPUS = [
  { index: 0, uuid: "GPU-busy-0", name: "NVIDIA A100-SXM4-80GB", pciBusId: "00000000:41:00.0", memoryTotalBytes: 80 * GIB },
  { index: 1, uuid: "GPU-busy-1", name: "NVIDIA A100-SXM4-80GB", pciBusId: "00000000:42:00.0", memoryTotalBytes: 80 * GIB },
];
const BUSY_NOW: [[number, number, number], [number, number, number]] = [[96, 62, 74], [41, 20, 53]];
function busyAt(minutesAgo: number): [[number, number, number], [number, number, number]] {
  const wobble = (k: number) => Math.sin(minutesAgo * k);
  const training = minutesAgo < 40;
  return [
    training ? [Math.round(92 + 5 * wobble(1.7)), 62, Math.round(71 + 3 * wobble(0.9))] : [Math.round(2 + 2 * wobble(2.3)), 0.5, Math.round(36 + wobble(0.5))],
    [Math.round(40 + 25 * wobble(0.45)), 20, Math.round(50 + 6 * wobble(0.45))],
  ];
}

const gpuReport = (gpus: typeof GPUS, values: [[number, number, number], [number, number, number]]) =>
  values.map(([util, memGib, temp], i) =>
    GpuStatus.fromPartial({ ...gpus[i], activity: GpuActivity.GPU_ACTIVITY_FREE, healthy: true, utilizationGpuPercent: util, memoryUsedBytes: memGib * GIB, temperatureCelsius: temp }),
  );

describe("GPU charts in the dashboard", () => {
  let t: TestHub;
  let gpuNode: ScriptedNode;
  let bareNode: ScriptedNode;
  let busyNode: ScriptedNode;
  let gpuNodeId: string;
  let bareNodeId: string;
  let busyNodeId: string;
  let browser: TestBrowser;
  let page: Page;
  const pageErrors: string[] = [];

  const nodeBody = (id: string) => page.locator(`#nodes tbody[data-node-id="${id}"]`);
  const chartRow = (index: number, nodeId = gpuNodeId) => nodeBody(nodeId).locator(`.gpu-chart-row[data-gpu-index="${index}"]`);
  const latest = (index: number, metric: "util" | "mem" | "temp", nodeId = gpuNodeId) => chartRow(index, nodeId).locator(`.gpu-chart[data-metric="${metric}"] .gpu-chart-latest`);

  /** Resolves when the hub has taken the node's next heartbeat (every listener has run). */
  function nextHeartbeat(nodeId: string): Promise<Heartbeat> {
    return new Promise((resolve) => {
      const on = (id: string, hb: Heartbeat): void => {
        if (id !== nodeId) return;
        t.hub.channel.events.off("heartbeat", on);
        resolve(hb);
      };
      t.hub.channel.events.on("heartbeat", on);
    });
  }

  /** One heartbeat with these numbers, taken by the hub. */
  async function beat(values: [[number, number, number], [number, number, number]], node = gpuNode, nodeId = gpuNodeId, gpus = GPUS): Promise<void> {
    node.more = { gpus: gpuReport(gpus, values) };
    const taken = nextHeartbeat(nodeId);
    await node.beat();
    await taken;
  }

  /** Enrols and connects a scripted node; resolves once the hub took its first heartbeat (sent at connect). */
  async function connectNode(machineId: string, gpus: typeof GPUS): Promise<[ScriptedNode, string]> {
    const info = nodeInfo({ gpus });
    const creds = await enrollNode(t, { wallet: Wallet.createRandom(), machineId, info });
    const first = nextHeartbeat(creds.nodeId);
    const node = await startScriptedNode(t, creds, {}, [], info);
    await first;
    return [node, creds.nodeId];
  }

  // Without Debian's Chromium every test fails, saying what to install: a browser test must never pass by skipping.
  const missing = chromiumMissing();
  beforeEach(() => {
    if (missing) throw new Error(missing);
  });

  beforeAll(async () => {
    if (missing) return;
    // Heartbeats come when the test sends them: the scripted nodes' own schedule is a minute.
    t = await startTestHub({ heartbeatIntervalMs: 60_000 });
    // Its first heartbeat (sent at connect, no GPUs yet) is taken before the test's own.
    [gpuNode, gpuNodeId] = await connectNode("d".repeat(64), GPUS);
    for (const sent of SENT) await beat(sent);
    [bareNode, bareNodeId] = await connectNode("e".repeat(64), []);

    // The hour before this busy node's heartbeat goes into the hub's history as its heartbeats
    // would have, a sample every 30 s (a test cannot wait an hour); then one real heartbeat.
    [busyNode, busyNodeId] = await connectNode("f".repeat(64), BUSY_GPUS);
    const now = Date.now();
    for (let k = 119; k >= 1; k--) t.hub.gpuHistory.record(busyNodeId, gpuReport(BUSY_GPUS, busyAt(k / 2)), now - k * 30_000);
    await beat(BUSY_NOW, busyNode, busyNodeId, BUSY_GPUS);

    browser = await launchChromium();
    browser.context.setDefaultTimeout(40_000); // generous: a loaded CI machine shares two cores with Chromium, the hub and anvil
    page = await browser.context.newPage();
    page.on("pageerror", (err) => pageErrors.push(`page error: ${err.message}`));
    page.on("console", (msg) => void (msg.type() === "error" && pageErrors.push(`console: ${msg.text()}`)));
  });

  afterAll(async () => {
    await browser?.close();
    await gpuNode?.stop();
    await bareNode?.stop();
    await busyNode?.stop();
    await t?.close();
  });

  it("GET /v1/nodes/{id}/gpu-history returns every sample sent, per GPU, column by column", async () => {
    const h = await requestJson<NodeGpuHistory>(t.http, "GET", `/v1/nodes/${gpuNodeId}/gpu-history`);
    expect(h.nodeId).toBe(gpuNodeId);
    expect(h.to - h.from).toBe(3_600_000);
    expect(h.gpus.map((g) => [g.index, g.uuid, g.name, g.memoryTotalBytes])).toEqual(GPUS.map((g) => [g.index, g.uuid, g.name, g.memoryTotalBytes]));
    h.gpus.forEach((g, i) => {
      expect(g.samples.utilizationGpuPercent).toEqual(SENT.map((s) => s[i]?.[0]));
      expect(g.samples.memoryUsedBytes).toEqual(SENT.map((s) => (s[i]?.[1] ?? 0) * GIB));
      expect(g.samples.temperatureCelsius).toEqual(SENT.map((s) => s[i]?.[2]));
      expect(g.samples.t).toHaveLength(SENT.length);
      expect(g.samples.t.every((ms, j) => ms >= h.from && ms <= h.to && (j === 0 || ms >= (g.samples.t[j - 1] ?? 0)))).toBe(true);
    });
    // Public like the node list, no sign-in; a node without GPUs has none; an unknown node is 404.
    expect(await requestJson<NodeGpuHistory>(t.http, "GET", `/v1/nodes/${bareNodeId}/gpu-history`)).toMatchObject({ nodeId: bareNodeId, gpus: [] });
    await expect(requestJson(t.http, "GET", "/v1/nodes/no-such-node/gpu-history")).rejects.toMatchObject({ status: 404, code: "unknown_node" });
  });

  it("shows three charts per GPU, captioned with the GPU's name, the latest values beside them", async () => {
    await page.goto(t.http.baseUrl);
    await page.locator("#feed-status", { hasText: "live" }).waitFor();
    await chartRow(0).locator(".gpu-chart-caption", { hasText: "NVIDIA H100 80GB HBM3" }).waitFor();
    await chartRow(1).locator(".gpu-chart-caption", { hasText: "NVIDIA L40S" }).waitFor();
    for (const index of [0, 1]) {
      // uPlot draws each chart on a canvas: one per metric.
      await expect.poll(() => chartRow(index).locator(".gpu-chart canvas").count()).toBe(3);
      expect(await chartRow(index).locator(".gpu-chart figcaption .gpu-chart-title").allTextContents()).toEqual(["Utilisation", "Memory used", "Temperature"]);
    }
    await latest(0, "util").filter({ hasText: /^73 %$/ }).waitFor();
    await latest(0, "mem").filter({ hasText: /^61\.3 \/ 80\.0 GiB$/ }).waitFor();
    await latest(0, "temp").filter({ hasText: /^61 °C$/ }).waitFor();
    await latest(1, "util").filter({ hasText: /^66 %$/ }).waitFor();
    await latest(1, "temp").filter({ hasText: /^52 °C$/ }).waitFor();
    // The canvases' text equivalent: every sample sent is on the chart (read from the hub's history).
    await page.getByRole("img", { name: /^Utilisation of GPU 0 over the last hour: 5 samples since \d\d:\d\d, the last 73 % at \d\d:\d\d$/ }).waitFor();
    await page.getByRole("img", { name: /^Temperature of GPU 1 over the last hour: 5 samples .* the last 52 °C at/ }).waitFor();
    // A chart is drawn, not blank: its canvas holds the series' colour.
    expect(await canvasHasColour(0, "util", [0x2f, 0x5b, 0xea])).toBe(true);
  });

  it("follows the node's heartbeats: a new point and the new latest values, without a reload", async () => {
    await beat([[88, 70, 66], [5, 2, 41]]);
    await latest(0, "util").filter({ hasText: /^88 %$/ }).waitFor();
    await latest(0, "mem").filter({ hasText: /^70\.0 \/ 80\.0 GiB$/ }).waitFor();
    await latest(0, "temp").filter({ hasText: /^66 °C$/ }).waitFor();
    await latest(1, "util").filter({ hasText: /^5 %$/ }).waitFor();
    await page.getByRole("img", { name: /^Utilisation of GPU 0 over the last hour: 6 samples .* the last 88 % at/ }).waitFor();
    await page.getByRole("img", { name: /^Memory used of GPU 1 over the last hour: 6 samples .* the last 2\.0 GiB at/ }).waitFor();
    await mkdir("test-artifacts", { recursive: true });
    await nodeBody(gpuNodeId).locator(".gpu-charts").screenshot({ path: SCREENSHOT_NODE });

    // A reload reads the same six points from the hub: the live point and the history agree.
    await page.reload();
    await page.getByRole("img", { name: /^Temperature of GPU 0 over the last hour: 6 samples .* the last 66 °C at/ }).waitFor();
  });

  it("draws a busy node's whole hour", async () => {
    for (const index of [0, 1]) await chartRow(index, busyNodeId).locator(".gpu-chart-caption", { hasText: "NVIDIA A100-SXM4-80GB" }).waitFor();
    await latest(0, "util", busyNodeId).filter({ hasText: /^96 %$/ }).waitFor();
    await latest(0, "mem", busyNodeId).filter({ hasText: /^62\.0 \/ 80\.0 GiB$/ }).waitFor();
    await latest(0, "temp", busyNodeId).filter({ hasText: /^74 °C$/ }).waitFor();
    await latest(1, "util", busyNodeId).filter({ hasText: /^41 %$/ }).waitFor();
    await page.getByRole("img", { name: /^Utilisation of GPU 0 over the last hour: 120 samples since \d\d:\d\d, the last 96 % at/ }).waitFor();
    await page.getByRole("img", { name: /^Temperature of GPU 1 over the last hour: 120 samples .* the last 53 °C at/ }).waitFor();
    await nodeBody(busyNodeId).locator(".gpu-charts").screenshot({ path: SCREENSHOT_HOUR });

    // The charts fold away and come back (reading the hour again) with a click on their summary.
    const summary = nodeBody(busyNodeId).getByText("GPU history · last hour");
    await summary.click();
    await chartRow(0, busyNodeId).locator("canvas").first().waitFor({ state: "hidden" });
    await summary.click();
    await chartRow(0, busyNodeId).locator("canvas").first().waitFor();
    await page.getByRole("img", { name: /^Memory used of GPU 0 over the last hour: 120 samples .* the last 62\.0 GiB at/ }).waitFor();
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  it("shows no chart and no error for a node without GPUs", async () => {
    await nodeBody(bareNodeId).locator("td", { hasText: "no GPUs (CPU-only node)" }).waitFor();
    expect(await nodeBody(bareNodeId).locator(".gpu-charts, canvas").count()).toBe(0);
    expect(await page.locator("#error").isHidden()).toBe(true);
    expect(await nodeBody(gpuNodeId).locator(".gpu-charts-note").textContent()).toBe("");
    expect(pageErrors).toEqual([]);
  });

  /** Whether the metric's canvas has a pixel of (about) this colour: the line uPlot drew. */
  function canvasHasColour(index: number, metric: string, [r, g, b]: [number, number, number]): Promise<boolean> {
    return chartRow(index)
      .locator(`.gpu-chart[data-metric="${metric}"] canvas`)
      .evaluate(
        // The DOM's types are not in this project's lib: the canvas as far as this reads it.
        (canvas: { width: number; height: number; getContext(kind: "2d"): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } | null }, rgb) => {
          const ctx = canvas.getContext("2d");
          if (!ctx) return false;
          const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
          for (let i = 0; i < px.length; i += 4) {
            if (Math.abs((px[i] ?? 0) - rgb[0]) < 12 && Math.abs((px[i + 1] ?? 0) - rgb[1]) < 12 && Math.abs((px[i + 2] ?? 0) - rgb[2]) < 12 && (px[i + 3] ?? 0) > 200) return true;
          }
          return false;
        },
        [r, g, b] as [number, number, number],
      );
  }
});
