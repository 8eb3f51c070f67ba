// Rentals whose image must be pulled, on the real engine from the local registry of
// test/setup/registry.sh: progress reaches the hub, and a stalled pull neither blocks other
// rentals nor leaves anything behind when it fails.
import { EventEmitter } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lockRegistry, REGISTRY, removeImage, requireRegistry } from "../../test/support/registry.js";
import { sshKeypair, type SshKey } from "../../test/support/openssh.js";
import { CommandFailure } from "../channel/command-dispatcher.js";
import { DockerodeEngine } from "../container/dockerode-engine.js";
import { LABELS } from "../container/labels.js";
import { NO_MINING } from "../mining/mining-control.js";
import { openRentalNetworks } from "../network/rental-networks.js";
import { type NodeMessage, RentalState, type StartRental } from "../proto/gen/gpunode/v1/gpunode.js";
import { SshGateway } from "../ssh/ssh-gateway.js";
import { GpuAllocation } from "./gpu-allocation.js";
import { ImagePuller } from "./image-puller.js";
import { defaultRentalDefaults } from "./rental-request.js";
import { RentalSecrets } from "./rental-secrets.js";
import { RentalService } from "./rental-service.js";
import { rentalContainerName } from "./rental-spec.js";

const SMALL = `${REGISTRY}/gpunode-test/busybox:latest`;
const BIG = `${REGISTRY}/gpunode-test/big:latest`;
const LOCAL = "gpunode-test/busybox:latest";
/** Long enough that a local rental starts well within it, short enough for a quick test. */
const STALL_TIMEOUT_MS = 3_000;
type Report = NonNullable<NodeMessage["body"]>;

describe("rentals that pull their image, on the real engine and a real registry", () => {
  const engine = new DockerodeEngine();
  const logger = pino({ level: "silent" });
  const nodeId = `pull-test-${process.pid}-${Date.now()}`;
  const abort = new AbortController();
  const reports: Report[] = [];
  const reported = new EventEmitter();
  let registryPid: number | undefined;
  let unlock: (() => void) | undefined;
  let dir: string | undefined;
  let key: SshKey;
  let allocation: GpuAllocation;
  let ssh: SshGateway | undefined;
  let rentals: RentalService;

  const startCmd = (rentalId: string, image: string, gpu: string): StartRental => ({
    rentalId, image, gpus: { count: 0, ids: [gpu], model: "" }, cpuMillis: 0, memoryBytes: 256 * 1024 ** 2, shmBytes: 0, pidsLimit: 0,
    env: [], command: [], sshPublicKeys: [key.publicKey], sshPasswordHash: "", maxDurationSeconds: 0, runAsRoot: false
  });
  /** Resolves with the first report (already sent or yet to come) that matches. */
  const reportMatching = <T extends Report>(match: (r: Report) => r is T): Promise<T> =>
    new Promise((resolve) => {
      const seen = reports.find(match);
      if (seen) return resolve(seen);
      const on = (r: Report): void => {
        if (!match(r)) return;
        reported.off("report", on);
        resolve(r);
      };
      reported.on("report", on);
    });
  const isPullProgress = (rentalId: string) => (r: Report): r is Extract<Report, { $case: "pullProgress" }> =>
    r.$case === "pullProgress" && r.value.rentalId === rentalId;
  const isRentalEvent = (rentalId: string) => (r: Report): r is Extract<Report, { $case: "rentalEvent" }> =>
    r.$case === "rentalEvent" && r.value.rental?.rentalId === rentalId;

  beforeAll(async () => {
    registryPid = await requireRegistry();
    // The other registry test file SIGSTOPs the same registry: never run beside it.
    unlock = await lockRegistry();
    dir = await mkdtemp(join(tmpdir(), "rental-pull-"));
    key = await sshKeypair(dir, "renter");
    allocation = new GpuAllocation(() => [0, 1].map((index) => ({ index, uuid: `GPU-${index}`, name: "NVIDIA H100 80GB HBM3", healthy: true })));
    const first = 40_000 + Math.floor(Math.random() * 200) * 50;
    ssh = new SshGateway({ hostKeyPath: join(dir, "host_key"), listenHost: "127.0.0.1", ports: { first, last: first + 49 }, helperDir: join(dir, "helper") }, { engine, logger });
    rentals = new RentalService(
      { nodeId, host: "127.0.0.1", sshUser: "renter", defaultStopTimeoutSec: 1, defaults: defaultRentalDefaults(8 * 1024 ** 3, 2), endedRetentionMs: 3_600_000, endedInHeartbeat: 32 },
      {
        engine, allocation, mining: NO_MINING, ssh, logger,
        puller: new ImagePuller({ stallTimeoutMs: STALL_TIMEOUT_MS, reportEveryMs: 0 }, { engine, logger, metrics: null }),
        secrets: new RentalSecrets(join(dir, "secrets")),
        // Pulls are what this file is about: the rentals share the default bridge (isolation has its own test).
        networks: await openRentalNetworks({ nodeId, isolation: false, egressAllow: [] }, { engine, logger }),
        gpuUuid: (i) => `GPU-${i}`,
        report: (body) => {
          reports.push(body);
          reported.emit("report", body);
        },
      },
    );
  }, 180_000);

  afterAll(async () => {
    if (registryPid !== undefined) process.kill(registryPid, "SIGCONT");
    abort.abort();
    rentals?.close();
    await ssh?.closeAll();
    const ours = await engine.list({ labels: { [LABELS.nodeId]: nodeId } });
    await Promise.all(ours.map((c) => engine.remove(c.id, { force: true })));
    if (registryPid !== undefined) await Promise.all([SMALL, BIG].map(removeImage));
    if (dir) await rm(dir, { recursive: true, force: true });
    unlock?.();
  });

  it("reports the pull's progress for the rental, then runs it", async () => {
    await removeImage(SMALL);
    const info = await rentals.start(startCmd("pull-a", SMALL, "0"), abort.signal);
    expect(info.state).toBe(RentalState.RENTAL_STATE_RUNNING);
    const progress = reports.filter(isPullProgress("pull-a"));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((r) => r.value.image === SMALL)).toBe(true);
    expect(progress.map((r) => r.value.status)).toContain("Pull complete");
    expect((await engine.inspect(rentalContainerName("pull-a"))).running).toBe(true);

    await rentals.stop({ rentalId: "pull-a", timeoutSeconds: 1 }, abort.signal);
    expect(allocation.free()).toEqual([0, 1]);
  });

  it("starts another rental while one's pull is stalled, then fails the stalled one cleanly", async () => {
    const pid = registryPid!;
    await removeImage(BIG);
    let stoppedAt: number | undefined;
    try {
      const stalled = rentals.start(startCmd("stall-a", BIG, "0"), abort.signal).then(() => undefined, (e: unknown) => e);
      let stalledSettled = false;
      void stalled.then(() => (stalledSettled = true));
      // Bytes of the big layer are flowing: freeze the registry mid-answer.
      await reportMatching((r): r is Report => isPullProgress("stall-a")(r) && r.value.status === "Downloading" && r.value.currentBytes > 0);
      process.kill(pid, "SIGSTOP");
      stoppedAt = Date.now();
      expect(allocation.free()).toEqual([1]);

      const other = await rentals.start(startCmd("local-b", LOCAL, "1"), abort.signal);
      expect(other.state).toBe(RentalState.RENTAL_STATE_RUNNING);
      expect(stalledSettled, "the local rental should start while the other pull is still stalled").toBe(false);

      const err = await stalled;
      expect(Date.now() - stoppedAt).toBeLessThan(10_000);
      expect(err).toBeInstanceOf(CommandFailure);
      expect(err).toMatchObject({ code: "pull_stalled", message: expect.stringContaining(BIG) });
      const failed = await reportMatching(isRentalEvent("stall-a"));
      expect(failed.value.rental).toMatchObject({ state: RentalState.RENTAL_STATE_FAILED, reason: (err as CommandFailure).message });
      expect(allocation.free()).toEqual([0]); // GPU 1 is still local-b's
      expect(allocation.heldBy("stall-a")).toEqual([]);
      const left = await engine.list({ labels: { [LABELS.nodeId]: nodeId, [LABELS.rentalId]: "stall-a" } });
      expect(left).toEqual([]);
      expect(rentals.list().map((r) => r.rentalId)).toEqual(["local-b"]);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    // The stalled pull never held the others up, and stopping still works.
    await rentals.stop({ rentalId: "local-b", timeoutSeconds: 1 }, abort.signal);
    expect(allocation.free()).toEqual([0, 1]);
  });

  it("stops a rental while its image is still pulling: the stop answers at once, the pull is abandoned, nothing is left", async () => {
    const pid = registryPid!;
    await removeImage(BIG);
    try {
      const starting = rentals.start(startCmd("cancel-a", BIG, "0"), abort.signal);
      await reportMatching((r): r is Report => isPullProgress("cancel-a")(r) && r.value.status === "Downloading" && r.value.currentBytes > 0);
      // The registry stops answering: without the stop, only the stall timeout would end this start.
      process.kill(pid, "SIGSTOP");
      const askedAt = Date.now();
      const stopped = await rentals.stop({ rentalId: "cancel-a", timeoutSeconds: 1 }, abort.signal, "stopped by the renter");
      expect(Date.now() - askedAt).toBeLessThan(STALL_TIMEOUT_MS);
      expect(stopped).toMatchObject({ state: RentalState.RENTAL_STATE_STOPPED, reason: "stopped by the renter while it was starting" });
      // The start itself answers with the same end, not an error.
      expect(await starting).toMatchObject({ state: RentalState.RENTAL_STATE_STOPPED });
      const event = await reportMatching(isRentalEvent("cancel-a"));
      expect(event.value.rental?.state).toBe(RentalState.RENTAL_STATE_STOPPED);
      expect(allocation.free()).toEqual([0, 1]);
      expect(await engine.list({ labels: { [LABELS.nodeId]: nodeId, [LABELS.rentalId]: "cancel-a" } })).toEqual([]);
      expect(await engine.imageExists(BIG)).toBe(false);
    } finally {
      process.kill(pid, "SIGCONT");
    }
  });
});
