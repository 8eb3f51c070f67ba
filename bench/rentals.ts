/**
 * Rental start, mining -> rental switch, and ack -> first successful `ssh host true`, on the real
 * Docker engine (the stand-in nvidia hook lets --gpus work without a GPU), beside a raw
 * `docker run -d` of the same image.
 *
 *   npm run bench:rentals [-- --iterations 5]
 *
 * Needs what the tests need: `bash test/setup/docker-engine.sh` and the OpenSSH client.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { pino } from "pino";
import { DockerodeEngine } from "../internal/container/dockerode-engine.js";
import { defaultMiningOptions } from "../internal/mining/mining-options.js";
import { MiningSupervisor } from "../internal/mining/mining-supervisor.js";
import { openRentalNetworks } from "../internal/network/rental-networks.js";
import type { StartRental } from "../internal/proto/gen/gpunode/v1/gpunode.js";
import { GpuAllocation } from "../internal/rental/gpu-allocation.js";
import { ImagePuller } from "../internal/rental/image-puller.js";
import { defaultRentalDefaults } from "../internal/rental/rental-request.js";
import { RentalSecrets } from "../internal/rental/rental-secrets.js";
import { RentalService } from "../internal/rental/rental-service.js";
import { prepareSftpHelper, SFTP_MOUNT_POINT } from "../internal/ssh/sftp-helper.js";
import { SshGateway } from "../internal/ssh/ssh-gateway.js";
import { removeNodeLeftovers } from "../test/support/node-leftovers.js";
import { sshExec, sshKeypair } from "../test/support/openssh.js";

const run = promisify(execFile);
const IMAGE = "gpunode-test/busybox:latest";
const MINER = "gpunode-test/miner:latest";
const { values } = parseArgs({ options: { iterations: { type: "string", default: "5" } } });
const N = Number(values.iterations);

const ms = (from: bigint): number => Number(process.hrtime.bigint() - from) / 1e6;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "bench-rentals-"));
  const logger = pino({ level: "silent" });
  const engine = new DockerodeEngine();
  const nodeId = `bench-${Date.now()}`;
  const key = await sshKeypair(dir, "renter");
  const allocation = new GpuAllocation(() => [0, 1].map((index) => ({ index, uuid: `GPU-${index}`, name: "NVIDIA H100 80GB HBM3", healthy: true })));
  await prepareSftpHelper(join(dir, "helper"));
  const ssh = new SshGateway({ hostKeyPath: join(dir, "host_key"), listenHost: "127.0.0.1", ports: { first: 42_200, last: 42_299 }, helperDir: join(dir, "helper") }, { engine, logger });
  const mining = new MiningSupervisor({ ...defaultMiningOptions, enabled: true, image: MINER, dataDir: "", nodeId, stopTimeoutSec: 5 }, { engine, allocation, deviceId: String, logger });
  const service = async (isolation: boolean): Promise<RentalService> => new RentalService(
    { nodeId, host: "127.0.0.1", sshUser: "renter", defaultStopTimeoutSec: 2, defaults: defaultRentalDefaults(8 * 1024 ** 3, 2), endedRetentionMs: 3_600_000, endedInHeartbeat: 32 },
    {
      engine, allocation, mining, ssh, logger,
      puller: new ImagePuller({ stallTimeoutMs: 60_000, reportEveryMs: 1_000 }, { engine, logger, metrics: null }),
      secrets: new RentalSecrets(join(dir, "secrets")),
      networks: await openRentalNetworks({ nodeId, isolation, egressAllow: [] }, { engine, logger }),
      gpuUuid: (i) => `GPU-${i}`,
      helper: { source: join(dir, "helper"), target: SFTP_MOUNT_POINT },
      report: () => {},
    },
  );
  // Isolated (each rental on its own firewalled network) where this machine allows it, as the daemon runs them.
  const rentals = await service(true);
  const shared = await service(false);
  const abort = new AbortController();
  await mining.start(abort.signal);
  const cmd = (rentalId: string, gpu: string): StartRental => ({
    rentalId, image: IMAGE, gpus: { count: 0, ids: [gpu], model: "" }, cpuMillis: 0, memoryBytes: 256 * 1024 ** 2, shmBytes: 0, pidsLimit: 0, env: [],
    command: [], sshPublicKeys: [key.publicKey], sshPasswordHash: "", maxDurationSeconds: 0, runAsRoot: false,
  });

  const raw: number[] = [];
  const switchMs: number[] = [];
  const firstSsh: number[] = [];
  try {
    for (let i = 0; i < N; i++) {
      let t = process.hrtime.bigint();
      const { stdout } = await run("docker", ["run", "-d", "--rm", "--gpus", '"device=1"', IMAGE, "sleep", "3600"]);
      raw.push(ms(t));
      await run("docker", ["rm", "-f", stdout.trim()]);

      // GPU 0 mines between iterations: each start is a mining -> rental switch.
      t = process.hrtime.bigint();
      const info = await rentals.start(cmd(`bench-${i}`, "0"), abort.signal);
      switchMs.push(ms(t));
      t = process.hrtime.bigint();
      for (;;) {
        if ((await sshExec(key, info.ssh?.port ?? 0, "renter", "true")).code === 0) break;
      }
      firstSsh.push(ms(t));
      await rentals.stop({ rentalId: `bench-${i}`, timeoutSeconds: 2 }, abort.signal);
    }
    // Start without a miner to pause (GPU 1 is not mining: take it away from mining first).
    await mining.pause([1]);
    const noMiner: number[] = [];
    for (let i = 0; i < N; i++) {
      const t = process.hrtime.bigint();
      await rentals.start(cmd(`bench-free-${i}`, "1"), abort.signal);
      noMiner.push(ms(t));
      await rentals.stop({ rentalId: `bench-free-${i}`, timeoutSeconds: 2 }, abort.signal);
      await mining.pause([1]);
    }
    const noMinerShared: number[] = [];
    for (let i = 0; i < N; i++) {
      const t = process.hrtime.bigint();
      await shared.start(cmd(`bench-shared-${i}`, "1"), abort.signal);
      noMinerShared.push(ms(t));
      await shared.stop({ rentalId: `bench-shared-${i}`, timeoutSeconds: 2 }, abort.signal);
      await mining.pause([1]);
    }
    const row = (label: string, xs: number[]) => console.log(`${label.padEnd(52)} ${median(xs).toFixed(0).padStart(7)} ms   (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)}, n=${xs.length})`);
    console.log(`median of ${N} on the real engine:`);
    row("raw `docker run -d` (CLI, same image, one GPU)", raw);
    row("rental start on a free GPU (command -> running)", noMiner);
    row("same, on the shared bridge (-rental-isolation=false)", noMinerShared);
    row("rental start on a mining GPU (pause miner + start)", switchMs);
    row("rental ack -> first successful `ssh host true`", firstSsh);
    console.log(`ratio rental start / raw docker run: ${(median(noMiner) / median(raw)).toFixed(2)}x; mining switch adds ${(median(switchMs) - median(noMiner)).toFixed(0)} ms`);
  } finally {
    abort.abort();
    await mining.close();
    await ssh.closeAll();
    await removeNodeLeftovers(engine, nodeId);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
