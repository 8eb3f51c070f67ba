/**
 * The simulated fleet's identities, made as the hub's registry makes them but without the REST
 * bootstrap (a SIWE sign-in per node would make 10,000 nodes a matter of minutes): each node gets
 * its own P-256 key and CSR, and certificates signed by the hub's own CA through
 * `CertificateAuthority.signNodeCertificates`; its node record is written straight into the hub's
 * store before the hub starts.
 */
import { cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { CertificateAuthority } from "../../internal/certs/authority.js";
import type { HubStore } from "../../internal/hub/store/hub-store.js";
import type { SignJob, SignMessage, SimNodeIdentity } from "./sign-worker.js";

export type { SimNodeIdentity } from "./sign-worker.js";

export interface Fleet {
  caDir: string;
  caCertPem: string;
  nodes: SimNodeIdentity[];
}

const FLEET_FILE = "fleet.json";

/**
 * `count` identities under the CA in `dir/ca`. A dir that already holds a big enough fleet is
 * reused (pass the same --fleet-dir to skip the ~7 ms of signing per node next time).
 */
export async function openOrMakeFleet(dir: string, count: number, onProgress: (done: number) => void): Promise<{ fleet: Fleet; reused: boolean }> {
  const caDir = join(dir, "ca");
  const saved = await readFile(join(dir, FLEET_FILE), "utf8").catch(() => undefined);
  if (saved !== undefined) {
    const parsed = JSON.parse(saved) as { nodes: Array<Omit<SimNodeIdentity, "notAfter"> & { notAfter: string }> };
    if (parsed.nodes.length >= count) {
      const ca = await CertificateAuthority.openOrCreate({ dir: caDir });
      const nodes = parsed.nodes.map((n) => ({ ...n, notAfter: new Date(n.notAfter) }));
      if (nodes.every((n) => n.notAfter.getTime() > Date.now() + 3_600_000)) return { fleet: { caDir, caCertPem: ca.certPem, nodes }, reused: true };
    }
  }
  await mkdir(dir, { recursive: true });
  const ca = await CertificateAuthority.openOrCreate({ dir: caDir });
  const nodes = await signInWorkers(caDir, count, onProgress);
  await writeFile(join(dir, FLEET_FILE), JSON.stringify({ nodes }), { mode: 0o600 });
  return { fleet: { caDir, caCertPem: ca.certPem, nodes }, reused: false };
}

/** Signing is CPU-bound JavaScript (~14 ms a node, key + CSR + two certificates): one worker thread per core. */
async function signInWorkers(caDir: string, count: number, onProgress: (done: number) => void): Promise<SimNodeIdentity[]> {
  const threads = Math.max(1, Math.min(availableParallelism(), Math.ceil(count / 200)));
  const per = Math.ceil(count / threads);
  let done = 0;
  let reported = 0;
  const slices = await Promise.all(
    Array.from({ length: threads }, (_, t) => {
      const job: SignJob = { caDir, from: t * per, to: Math.min(count, (t + 1) * per) };
      return new Promise<SimNodeIdentity[]>((resolve, reject) => {
        const worker = new Worker(new URL("./sign-worker.js", import.meta.url), { workerData: job });
        worker.on("message", (m: SignMessage) => {
          if (m.kind === "progress") {
            done += m.signed;
            if (done - reported >= 1_000) onProgress((reported = done));
          } else resolve(m.nodes);
        });
        worker.on("error", reject);
        worker.on("exit", (code) => (code === 0 ? undefined : reject(new Error(`signing worker exited with ${code}`))));
      });
    }),
  );
  return slices.flat();
}

/** The hub's CA files, copied into a fresh data dir: every hub of the bench runs on one CA. */
export async function installCa(fleet: Fleet, dataDir: string): Promise<void> {
  await cp(fleet.caDir, join(dataDir, "ca"), { recursive: true });
}

/** Writes the first `count` nodes and their certificates into the store, as registration does. */
export async function seedNodes(store: HubStore, fleet: Fleet, count: number, gpuCount: number, concurrency: number): Promise<void> {
  const now = new Date();
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) {
      const n = fleet.nodes[i];
      if (!n) throw new Error(`the fleet has no node ${i}`);
      await store.upsertNode({
        id: n.nodeId,
        wallet: n.wallet,
        machineId: n.machineId,
        host: "127.0.0.1",
        apiPort: 8444,
        pricePerSecWei: "1000000000",
        gpus: simGpus(n.nodeId, gpuCount),
        versions: {},
        notices: [],
        registeredAt: now,
        updatedAt: now,
        certSerial: n.serial,
        certNotAfter: n.notAfter,
      });
      await store.recordCertificate({ serial: n.serial, nodeId: n.nodeId, notAfter: n.notAfter, issuedAt: now, reason: "bootstrap" });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

export function simGpus(nodeId: string, count: number) {
  return Array.from({ length: count }, (_, index) => ({
    index,
    uuid: `GPU-${nodeId}-${index}`,
    name: "NVIDIA H100 80GB HBM3",
    pciBusId: `00000000:${(0x18 + index).toString(16).padStart(2, "0")}:00.0`,
    memoryTotalBytes: 80 * 1024 ** 3,
  }));
}
