import type { AccessStore } from "./access-store.js";
import type { LeaseStore } from "./lease-store.js";
import type { PaymentStore } from "./payment-store.js";
import type { SessionStore } from "./session-store.js";
import type { ClusterStore } from "./cluster-store.js";
import type { RentalStore } from "./rental-store.js";

/** The hub's records, independent of the database engine behind them. */

export interface StoredGpu {
  index: number;
  uuid: string;
  name: string;
  pciBusId: string;
  memoryTotalBytes: number;
}

export interface NodeDescription {
  host: string;
  apiPort: number;
  pricePerSecWei: string;
  gpus: StoredGpu[];
  versions: Record<string, string>;
  notices: string[];
}

export interface NodeRecord extends NodeDescription {
  id: string;
  wallet: string;
  machineId: string;
  registeredAt: Date;
  updatedAt: Date;
  certSerial: string;
  certNotAfter: Date;
}

export interface HeartbeatRecord {
  nodeId: string;
  seq: number;
  receivedAt: Date;
  /** The heartbeat as the node sent it, in the proto's JSON form. */
  body: unknown;
}

export interface IssuedCertificate {
  serial: string;
  nodeId: string;
  notAfter: Date;
  issuedAt: Date;
  reason: "bootstrap" | "renewal";
}

export interface HubStore {
  /** Creates the node, or updates its description when it exists. */
  upsertNode(node: NodeRecord): Promise<void>;
  getNode(id: string): Promise<NodeRecord | undefined>;
  findNodeByMachine(wallet: string, machineId: string): Promise<NodeRecord | undefined>;
  listNodes(): Promise<NodeRecord[]>;
  updateNodeDescription(id: string, desc: NodeDescription, at: Date): Promise<void>;
  recordCertificate(cert: IssuedCertificate): Promise<void>;
  /** Oldest first. */
  listCertificates(nodeId: string): Promise<IssuedCertificate[]>;
  /** The latest heartbeat of each node in the batch (written together: one transaction). */
  saveHeartbeats(batch: HeartbeatRecord[]): Promise<void>;
  lastHeartbeats(): Promise<HeartbeatRecord[]>;
  readonly rentals: RentalStore;
  readonly access: AccessStore;
  /** Paid rentals: escrow terms, chain logs acted on, the listener's cursor, the operator's outbox. */
  readonly payments: PaymentStore;
  /** Work that runs on one hub at a time. */
  readonly leases: LeaseStore;
  /** Renters' sign-outs, read by every hub. */
  readonly sessions: SessionStore;
  /** Replicas on one PostgreSQL: node ownership and requests between them. */
  readonly cluster: ClusterStore;
  close(): Promise<void>;
}
