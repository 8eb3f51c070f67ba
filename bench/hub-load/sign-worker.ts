/** A worker thread of the fleet maker: signs the nodes [from, to) with the CA in caDir. */
import { createHash, randomBytes } from "node:crypto";
import { parentPort, workerData } from "node:worker_threads";
import { getAddress } from "ethers";
import { CertificateAuthority } from "../../internal/certs/authority.js";
import { createCsr } from "../../internal/certs/csr.js";
import { generateP256Key } from "../../internal/certs/keys.js";

export interface SimNodeIdentity {
  nodeId: string;
  wallet: string;
  machineId: string;
  keyPem: string;
  clientCertPem: string;
  serial: string;
  notAfter: Date;
}

export interface SignJob {
  caDir: string;
  from: number;
  to: number;
}

export type SignMessage = { kind: "progress"; signed: number } | { kind: "done"; nodes: SimNodeIdentity[] };

/** As long as the hub's default: the certificates must outlive any run. */
const CERT_LIFETIME_MS = 7 * 24 * 3_600_000;
const REPORT_EVERY = 100;

export const nodeIdOf = (i: number): string => `load-${String(i).padStart(6, "0")}`;

async function sign(job: SignJob): Promise<SimNodeIdentity[]> {
  const ca = await CertificateAuthority.openOrCreate({ dir: job.caDir });
  const nodes: SimNodeIdentity[] = [];
  for (let i = job.from; i < job.to; i++) {
    const nodeId = nodeIdOf(i);
    const wallet = getAddress(`0x${randomBytes(20).toString("hex")}`);
    const key = await generateP256Key(); // each node its own key, as a daemon makes it
    const signed = await ca.signNodeCertificates({ csrPem: await createCsr(key, nodeId), nodeId, wallet, lifetimeMs: CERT_LIFETIME_MS, hosts: ["127.0.0.1"] });
    nodes.push({
      nodeId,
      wallet,
      machineId: createHash("sha256").update(nodeId).digest("hex"),
      keyPem: key.privateKeyPem,
      clientCertPem: signed.clientCertPem,
      serial: signed.serial,
      notAfter: signed.notAfter,
    });
    if (nodes.length % REPORT_EVERY === 0) parentPort?.postMessage({ kind: "progress", signed: REPORT_EVERY } satisfies SignMessage);
  }
  return nodes;
}

if (parentPort && workerData) {
  const nodes = await sign(workerData as SignJob);
  parentPort.postMessage({ kind: "done", nodes } satisfies SignMessage);
}
