import { execFile } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { Wallet } from "ethers";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DockerodeEngine } from "../../internal/container/dockerode-engine.js";
import { DASHBOARD_CSP } from "../../internal/hub/dashboard/dashboard-routes.js";
import { buildFakeNvml } from "../fixtures/nvml/build-fake-nvml.js";
import { fakeGpu, fakeNvmlConfig, writeFakeNvmlConfig } from "../fixtures/nvml/fake-nvml-config.js";
import { chromiumMissing, injectTestWallet, launchChromium, type TestBrowser, type TestWallet } from "../support/browser.js";
import { type SshKey, sshExec, sshKeypair } from "../support/openssh.js";
import { DAEMON_SCRIPT, type Program } from "../support/program.js";
import { startDaemon, tempDir, writeKeyFile } from "../support/stack.js";
import { nodeOnline, startTestHub, type TestHub } from "../support/test-hub.js";
import { removeNodeLeftovers } from "../support/node-leftovers.js";

const PRICE = "123456789012345678901"; // wei per second: more than a double holds exactly
const SCREENSHOT = "test-artifacts/dashboard.png"; // a running rental
const SCREENSHOT_STOPPED = "test-artifacts/dashboard-stopped.png";

/** `node-daemon drain|undrain` as the provider types it, against the daemon's state dir. */
function nodeDaemon(command: "drain" | "undrain", stateDir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [DAEMON_SCRIPT, command], { env: { PATH: "/usr/bin:/bin", HOME: process.env.HOME, NODE_DAEMON_STATE_DIR: stateDir }, timeout: 30_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`node-daemon ${command}: ${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

/** The dashboard in Debian's Chromium against a hub in this process and a real daemon with two stand-in GPUs. */
describe("dashboard in a real browser", () => {
  const engine = new DockerodeEngine();
  const provider = Wallet.createRandom();
  const renter = Wallet.createRandom();
  let browser: TestBrowser;
  let t: TestHub;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let daemon: Program;
  let nvmlFile: string;
  let nodeId: string;
  let key: SshKey;
  let page: Page;
  let wallet: TestWallet;
  const pageErrors: string[] = [];

  const nodeBody = () => page.locator(`#nodes tbody[data-node-id="${nodeId}"]`);
  const gpuRow = (index: number) => nodeBody().locator(`tr[data-gpu-index="${index}"]`);
  const rentalRow = (id: string) => page.locator(`#rentals tr[data-rental-id="${id}"]`);

  // Without Debian's Chromium every test fails, saying what to install: a browser test must never pass by skipping.
  const missing = chromiumMissing();
  beforeEach(() => {
    if (missing) throw new Error(missing);
  });

  beforeAll(async () => {
    if (missing) return;
    browser = await launchChromium();
    browser.context.setDefaultTimeout(40_000); // generous: a loaded CI machine shares two cores with Chromium, the hub and anvil
    dir = await tempDir("dashboard");
    t = await startTestHub({ heartbeatIntervalMs: 500 });
    nvmlFile = join(dir.path, "nvml.json");
    await writeFakeNvmlConfig(nvmlFile, fakeNvmlConfig(2));
    key = await sshKeypair(dir.path, "renter");
    const base = 45_000 + Math.floor(Math.random() * 50) * 20;
    daemon = startDaemon(
      [
        "-hub", t.grpcTarget, "-hub-http", t.http.baseUrl, "-hub-ca-fingerprint", t.hub.info.caFingerprint, "-host", "127.0.0.1",
        "-private-key-file", await writeKeyFile(dir.path, provider), "-cert-dir", join(dir.path, "certs"), "-state-dir", join(dir.path, "state"),
        "-api-port", "0", "-api-listen-host", "127.0.0.1", "-nvml-library", await buildFakeNvml(), "-enable-mining=false",
        "-price-per-sec", PRICE, "-ssh-ports", `${base}-${base + 19}`, "-ssh-listen-host", "127.0.0.1",
      ],
      { FAKE_NVML_CONFIG: nvmlFile },
    );
    nodeId = (await daemon.waitFor((l) => l.created === true, "registration")).nodeId as string;
    await nodeOnline(t, nodeId);

    page = await browser.context.newPage();
    page.on("pageerror", (err) => pageErrors.push(`page error: ${err.message}`));
    // CSP violations and script errors land here; failed requests the test provokes (400, 401) do not count.
    page.on("console", (msg) => void (msg.type() === "error" && !msg.text().startsWith("Failed to load resource") && pageErrors.push(`console: ${msg.text()}`)));
    wallet = await injectTestWallet(page, renter);
  });

  afterAll(async () => {
    await browser?.close();
    await daemon?.kill("SIGKILL");
    await removeNodeLeftovers(engine, nodeId);
    await t?.close();
    await dir?.remove();
  });

  it("serves the page with a strict Content-Security-Policy, and signs in with the browser wallet", async () => {
    const res = await page.goto(t.http.baseUrl);
    expect(res?.status()).toBe(200);
    const csp = res?.headers()["content-security-policy"] ?? "";
    expect(csp).toBe(DASHBOARD_CSP);
    expect(csp).not.toContain("unsafe-inline");
    await page.locator("#feed-status", { hasText: "live" }).waitFor();

    await page.getByRole("button", { name: "Sign in with wallet" }).click();
    await page.locator("#wallet-address", { hasText: renter.address }).waitFor();
    expect(wallet.signed).toHaveLength(1);
    const host = new URL(t.http.baseUrl).host;
    expect(wallet.signed[0]).toMatch(new RegExp(`^${host.replace(/\./g, "\\.")} wants you to sign in with your Ethereum account:\\n${renter.address}\\n`));
    await page.locator("#rentals-section").waitFor();
  });

  it("shows the node online with both GPUs, and a GPU's row follows the node's heartbeats", async () => {
    await nodeBody().locator(".node-status", { hasText: "online" }).waitFor();
    expect(await nodeBody().locator(".node-wallet").getAttribute("title")).toBe(provider.address);
    await gpuRow(1).locator(".gpu-model", { hasText: "NVIDIA H100 80GB HBM3" }).waitFor();
    await gpuRow(0).locator(".gpu-util", { hasText: /^10 %$/ }).waitFor();
    await gpuRow(0).locator(".gpu-state", { hasText: "free" }).waitFor();

    await writeFakeNvmlConfig(nvmlFile, fakeNvmlConfig(2, { gpus: [fakeGpu(0, { util_gpu: 77, temp: 61, power: 312_000 }), fakeGpu(1)] }));
    await gpuRow(0).locator(".gpu-util", { hasText: /^77 %$/ }).waitFor();
    await gpuRow(0).locator(".gpu-temp", { hasText: "61 °C" }).waitFor();
    await gpuRow(0).locator(".gpu-power", { hasText: "312 W" }).waitFor();
    await gpuRow(1).locator(".gpu-util", { hasText: /^11 %$/ }).waitFor();
    // The heartbeat age ticks in the page between events.
    await nodeBody().locator(".node-heartbeat", { hasText: /^\d+ s ago$/ }).waitFor();
  });

  it("shows an API error with its message", async () => {
    await page.locator("#rent-node").selectOption(nodeId);
    await page.locator("#rent-image").fill("gpunode-test/busybox:latest");
    await page.locator("#rent-key").fill("ssh-ed25519 not-a-key");
    await page.getByRole("button", { name: "Start rental" }).click();
    await page.locator("#error-text", { hasText: /^sshPublicKey: .+ \(invalid_request\)$/ }).waitFor();
    await page.locator("#error-close").click();
    await page.locator("#error").waitFor({ state: "hidden" });
  });

  let rentalId: string;

  it("starts a rental from the form; it reaches running with a working SSH command", async () => {
    await page.locator("#rent-node").selectOption(nodeId);
    await page.locator('#rent-gpu-list input[value="1"]').check();
    await page.locator("#rent-image").fill("gpunode-test/busybox:latest");
    await page.locator("#rent-key").fill(key.publicKey);
    await page.locator("#rent-duration").fill("10");
    await page.getByRole("button", { name: "Start rental" }).click();

    const row = page.locator("#rentals tr[data-rental-id]").first();
    await row.waitFor();
    rentalId = (await row.getAttribute("data-rental-id")) ?? "";
    expect((await t.hub.store.rentals.get(rentalId))?.renter).toBe(renter.address);

    await rentalRow(rentalId).locator(".rental-status", { hasText: "running" }).waitFor();
    // The command to copy pins the node's host key (KnownHostsCommand, StrictHostKeyChecking=yes).
    const command = rentalRow(rentalId).locator(".ssh-command", { hasText: /^ssh -o StrictHostKeyChecking=yes -o 'KnownHostsCommand=\/bin\/echo \[127\.0\.0\.1\]:\d+ ssh-ed25519 \S+' -p \d+ renter@127\.0\.0\.1$/ });
    await command.waitFor();
    expect(await rentalRow(rentalId).locator(".rental-gpus").textContent()).toBe("1");
    const port = Number(/-p (\d+)/.exec((await command.textContent()) ?? "")?.[1]);
    expect((await sshExec(key, port, "renter", "echo from-the-dashboard")).stdout.trim()).toBe("from-the-dashboard");
    await rentalRow(rentalId).getByRole("button", { name: "Copy" }).waitFor();
    // Prices and costs in ether for people, the exact wei beside them; the rental's output a click away.
    await nodeBody().locator(".node-price", { hasText: /^\d+(\.\d+)? ETH \/ GPU-h$/ }).waitFor();
    await rentalRow(rentalId).locator(".rental-cost-eth", { hasText: / ETH$/ }).waitFor();
    await rentalRow(rentalId).getByRole("button", { name: "Logs" }).click();
    await page.locator("#logs-dialog[open] #logs-title", { hasText: /^Output of / }).waitFor();
    await page.locator("#logs-close").click();
    await page.locator("#logs-dialog[open]").waitFor({ state: "detached" });

    // The node's next heartbeat shows the GPU taken; elapsed time and cost move on in the page.
    await gpuRow(1).locator(".gpu-state", { hasText: "rented" }).waitFor();
    await rentalRow(rentalId).locator(".rental-elapsed", { hasText: /^0:00:(0[1-9]|[1-5]\d)$/ }).waitFor();
    await mkdir("test-artifacts", { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  it("stops the rental from the page; the row shows stopped and the exact cost", async () => {
    await rentalRow(rentalId).getByRole("button", { name: "Stop" }).click();
    await rentalRow(rentalId).locator(".rental-status", { hasText: "stopped" }).waitFor();
    await rentalRow(rentalId).getByRole("button", { name: "Stop" }).waitFor({ state: "detached" });
    const stopped = await t.hub.store.rentals.get(rentalId);
    expect(stopped?.status).toBe("stopped");
    const seconds = Math.ceil(((stopped?.endedAt?.getTime() ?? 0) - (stopped?.startedAt?.getTime() ?? 0)) / 1000);
    await rentalRow(rentalId).locator(".rental-cost", { hasText: (BigInt(seconds) * BigInt(PRICE)).toString() }).waitFor();
    await gpuRow(1).locator(".gpu-state", { hasText: "free" }).waitFor();
    // A hub without payments shows nothing about a chain: no status, no Payment column, no escrow balance.
    await page.locator("#chain-status").waitFor({ state: "hidden" });
    await rentalRow(rentalId).locator(".rental-payment").waitFor({ state: "hidden" });
    await page.locator("#balance-section").waitFor({ state: "hidden" });

    await page.screenshot({ path: SCREENSHOT_STOPPED, fullPage: true });
  });

  it("shows a draining node as draining and stops offering it for rent until it undrains", async () => {
    const offered = page.locator(`#rent-node option[value="${nodeId}"]`);
    await offered.waitFor({ state: "attached" });
    await nodeDaemon("drain", join(dir.path, "state"));
    await nodeBody().locator(".node-status", { hasText: "draining" }).waitFor();
    await offered.waitFor({ state: "detached" });
    await page.locator("#node-count", { hasText: "1 online of 1 (1 draining)" }).waitFor();

    await nodeDaemon("undrain", join(dir.path, "state"));
    await nodeBody().locator(".node-status", { hasText: "online" }).waitFor();
    await offered.waitFor({ state: "attached" });
  });

  it("signs out: the session is revoked and the rentals leave the page", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("button", { name: "Sign in with wallet" }).waitFor();
    await page.locator("#rentals-section").waitFor({ state: "hidden" });
    const status = await page.evaluate(async () => (await fetch("/v1/rentals")).status);
    expect(status).toBe(401);
    expect(pageErrors).toEqual([]);
  });
});
