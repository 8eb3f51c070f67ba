import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerodeEngine } from "../../internal/container/dockerode-engine.js";
import { LABELS, parseWorkloadLabels, workloadFilter } from "../../internal/container/labels.js";
import { RentalState } from "../../internal/proto/gen/gpunode/v1/gpunode.js";
import { buildFakeNvml } from "../fixtures/nvml/build-fake-nvml.js";
import { fakeNvmlConfig, writeFakeNvmlConfig } from "../fixtures/nvml/fake-nvml-config.js";
import { type SshKey, sshExec, sshKeypair } from "../support/openssh.js";
import type { Program } from "../support/program.js";
import { startDaemon, tempDir, writeKeyFile } from "../support/stack.js";
import { nodeOnline, startTestHub, type TestHub } from "../support/test-hub.js";
import { removeNodeLeftovers } from "../support/node-leftovers.js";

const run = promisify(execFile);

/** Stops dockerd as an operator (or a package upgrade) would, and waits until it is gone. */
async function stopDockerd(): Promise<void> {
  const pid = (await readFile("/var/run/docker.pid", "utf8")).trim();
  await run("kill", ["-TERM", pid]);
  await run("tail", [`--pid=${pid}`, "-f", "/dev/null"], { timeout: 60_000 }); // returns when it exits
}

const startDockerd = () => run("bash", ["test/setup/docker-engine.sh"], { timeout: 120_000 });

/** Waits for a condition of the engine by re-checking it at every daemon log line (the daemon logs what it does). */
async function until<T>(daemon: Program, check: () => Promise<T | undefined | false>, what: string): Promise<T> {
  for (;;) {
    const ok = await check().catch(() => undefined);
    if (ok) return ok;
    await daemon.waitForNext(() => true, what, 60_000);
  }
}

describe("dockerd restarted under the daemon", () => {
  let engine: DockerodeEngine;
  let t: TestHub;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let daemon: Program;
  let nodeId: string;
  let key: SshKey;

  beforeAll(async () => {
    engine = new DockerodeEngine();
    dir = await tempDir("dockerd-restart");
    t = await startTestHub({ heartbeatIntervalMs: 1_000 });
    const nvmlConfig = join(dir.path, "nvml.json");
    await writeFakeNvmlConfig(nvmlConfig, fakeNvmlConfig(2));
    key = await sshKeypair(dir.path, "renter");
    const base = 41_000 + Math.floor(Math.random() * 50) * 20;
    daemon = startDaemon(
      [
        "-hub", t.grpcTarget, "-hub-http", t.http.baseUrl, "-hub-ca-fingerprint", t.hub.info.caFingerprint, "-host", "127.0.0.1",
        "-private-key-file", await writeKeyFile(dir.path, Wallet.createRandom()), "-cert-dir", join(dir.path, "certs"), "-state-dir", join(dir.path, "state"),
        "-api-port", "0", "-api-listen-host", "127.0.0.1", "-nvml-library", await buildFakeNvml(),
        "-mining-image", "gpunode-test/miner:latest", "-mining-data-dir=", "-ssh-ports", `${base}-${base + 19}`, "-ssh-listen-host", "127.0.0.1",
      ],
      { FAKE_NVML_CONFIG: nvmlConfig },
    );
    nodeId = (await daemon.waitFor((l) => l.created === true, "registration")).nodeId as string;
    await nodeOnline(t, nodeId);
  });

  afterAll(async () => {
    await daemon?.kill("SIGKILL");
    await removeNodeLeftovers(engine, nodeId);
    await t?.close();
    await dir?.remove();
  });

  it("stays online while Docker is stopped, refusing new rentals; then the rental, its SSH and mining are as before", async () => {
    const res = await t.hub.channel.sendCommand(
      nodeId,
      { $case: "startRental", value: { rentalId: "survivor", image: "gpunode-test/busybox:latest", gpus: { count: 0, ids: ["0"], model: "" }, cpuMillis: 0, memoryBytes: 128 * 1024 ** 2, shmBytes: 0, pidsLimit: 0, env: [], command: [], sshPublicKeys: [key.publicKey], sshPasswordHash: "", maxDurationSeconds: 0, runAsRoot: false } },
      { timeoutMs: 60_000 },
    );
    if (res.outcome?.$case !== "rental") throw new Error(JSON.stringify(res.outcome));
    const port = res.outcome.value.ssh?.port ?? 0;
    const minerGpus = async () => (await engine.list({ labels: workloadFilter(nodeId, "miner") })).filter((c) => c.running).map((c) => parseWorkloadLabels(c.labels)?.gpuIds[0]);
    await until(daemon, async () => (await minerGpus()).join() === "1", "a miner on GPU 1");

    const lost = daemon.waitForNext((l) => l.msg === "lost the Docker engine's events; reconnecting", "the daemon noticing the engine went away", 60_000);
    await stopDockerd();
    try {
      await lost;
      // With Docker stopped the daemon goes on heartbeating: past three intervals the hub still has it online...
      const beats = daemon.lines.filter((l) => typeof l.seq === "number").length;
      await daemon.waitForNext((l) => typeof l.seq === "number" && daemon.lines.filter((x) => typeof x.seq === "number").length >= beats + 4, "four heartbeats with Docker stopped");
      expect(t.hub.presence.status(nodeId)).toBe("online");
      // ...and refuses new rentals with the reason, instead of failing them half-way.
      const refused = await t.hub.channel.sendCommand(nodeId, { $case: "startRental", value: { rentalId: "during-outage", image: "gpunode-test/busybox:latest", gpus: { count: 0, ids: ["1"], model: "" }, cpuMillis: 0, memoryBytes: 0, shmBytes: 0, pidsLimit: 0, env: [], command: ["true"], sshPublicKeys: [], sshPasswordHash: "", maxDurationSeconds: 0, runAsRoot: false } }, { timeoutMs: 10_000 });
      expect(refused.outcome).toMatchObject({ $case: "error", value: { code: "rentals_unavailable", message: expect.stringContaining("Docker engine is not answering") } });
    } finally {
      await startDockerd();
    }

    const rental = await until(daemon, async () => (await engine.list({ labels: workloadFilter(nodeId, "rental") })).find((c) => c.running), "the rental running again");
    expect(rental.labels[LABELS.rentalId]).toBe("survivor");
    await until(daemon, async () => (await minerGpus()).join() === "1", "mining back on GPU 1 only");
    await until(daemon, async () => (await sshExec(key, port, "renter", "echo back")).stdout.trim() === "back", "SSH into the rental again");

    const status = await t.hub.channel.sendCommand(nodeId, { $case: "getStatus", value: {} }, { timeoutMs: 10_000 });
    expect(status.outcome?.$case).toBe("status");
    const beat = t.hub.presence.status(nodeId);
    expect(beat).toBe("online");
    const survivor = (await t.hub.channel.sendCommand(nodeId, { $case: "stopRental", value: { rentalId: "survivor", timeoutSeconds: 2 } }, { timeoutMs: 30_000 })).outcome;
    expect(survivor?.$case === "rental" && survivor.value.state, JSON.stringify(survivor)).toBe(RentalState.RENTAL_STATE_STOPPED);
  });
});
