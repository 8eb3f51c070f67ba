import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { CertificateAuthority } from "../../certs/authority.js";
import { CertificateError } from "../../certs/errors.js";
import type { CertificateBundle, NodeInfo, RegisterNodeRequest, RegisterNodeResponse } from "../../proto/gen/gpunode/v1/gpunode.js";
import { badRequest, forbidden, notFound } from "../http/api-error.js";
import type { HubStore, NodeDescription, NodeRecord } from "../store/hub-store.js";
import type { AccessControl } from "../access/access-control.js";

export interface NodeRegistryOptions {
  certLifetimeMs: number;
}

export interface NodeRegistryDeps {
  store: HubStore;
  ca: CertificateAuthority;
  access: AccessControl;
  logger: Logger;
}

/** Decides node identities and hands out their certificates; the only writer of node records. */
export class NodeRegistry {
  constructor(
    private readonly opts: NodeRegistryOptions,
    private readonly deps: NodeRegistryDeps,
  ) {}

  /** A signed-in wallet registers a machine: the same machine keeps its id, a new one gets a new id. */
  async register(wallet: string, req: RegisterNodeRequest): Promise<RegisterNodeResponse> {
    const info = req.info;
    if (!info) throw badRequest("invalid_request", "info: required");
    const existing = await this.findExisting(wallet, req);
    const nodeId = existing?.id ?? randomUUID();
    const denied = this.deps.access.nodeRefusal(nodeId, wallet);
    if (denied) throw forbidden(denied.code, denied.message);
    const bundle = await this.sign(nodeId, wallet, req.csrPem, info.host, "bootstrap", async (now, serial, notAfter) => {
      await this.deps.store.upsertNode({
        id: nodeId,
        wallet,
        machineId: req.machineId,
        ...describeNode(info),
        registeredAt: existing?.registeredAt ?? now,
        updatedAt: now,
        certSerial: serial,
        certNotAfter: notAfter,
      });
    });
    this.deps.logger.info({ nodeId, wallet, created: !existing }, existing ? "node re-registered" : "node registered");
    return { nodeId, bundle, created: !existing };
  }

  /** Rotation over the node's existing mTLS identity: no wallet involved. */
  async renew(nodeId: string, csrPem: string): Promise<CertificateBundle> {
    const node = await this.deps.store.getNode(nodeId);
    if (!node) throw notFound("unknown_node", `node ${nodeId} is not registered`);
    const bundle = await this.sign(nodeId, node.wallet, csrPem, node.host, "renewal", async () => {});
    this.deps.logger.info({ nodeId, notAfter: bundle.notAfter }, "certificate renewed");
    return bundle;
  }

  async describe(nodeId: string, info: NodeInfo): Promise<void> {
    await this.deps.store.updateNodeDescription(nodeId, describeNode(info), new Date());
  }

  getNode(nodeId: string): Promise<NodeRecord | undefined> {
    return this.deps.store.getNode(nodeId);
  }

  private async findExisting(wallet: string, req: RegisterNodeRequest): Promise<NodeRecord | undefined> {
    if (req.nodeId) {
      const byId = await this.deps.store.getNode(req.nodeId);
      if (byId && byId.wallet !== wallet) {
        throw forbidden("node_owned_by_other_wallet", `node ${req.nodeId} belongs to another wallet; sign in with that wallet or remove the node id from the cert dir`);
      }
      if (byId) return byId;
    }
    return this.deps.store.findNodeByMachine(wallet, req.machineId);
  }

  private async sign(
    nodeId: string,
    wallet: string,
    csrPem: string,
    host: string,
    reason: "bootstrap" | "renewal",
    beforeRecord: (now: Date, serial: string, notAfter: Date) => Promise<void>,
  ): Promise<CertificateBundle> {
    let signed;
    try {
      signed = await this.deps.ca.signNodeCertificates({ csrPem, nodeId, wallet, lifetimeMs: this.opts.certLifetimeMs, hosts: [host] });
    } catch (err) {
      if (err instanceof CertificateError) throw badRequest(err.code, err.message);
      throw err;
    }
    const now = new Date();
    await beforeRecord(now, signed.serial, signed.notAfter);
    await this.deps.store.recordCertificate({ serial: signed.serial, nodeId, notAfter: signed.notAfter, issuedAt: now, reason });
    return {
      clientCertPem: signed.clientCertPem,
      serverCertPem: signed.serverCertPem,
      caCertPem: this.deps.ca.certPem,
      notAfter: signed.notAfter.toISOString(),
      serial: signed.serial,
    };
  }
}

export function describeNode(info: NodeInfo): NodeDescription {
  return {
    host: info.host,
    apiPort: info.apiPort,
    pricePerSecWei: info.pricePerSecWei,
    gpus: info.gpus.map((g) => ({ index: g.index, uuid: g.uuid, name: g.name, pciBusId: g.pciBusId, memoryTotalBytes: g.memoryTotalBytes })),
    versions: Object.fromEntries(Object.entries(info.versions ?? {}).filter(([, v]) => typeof v === "string" && v !== "")) as Record<string, string>,
    notices: info.notices,
  };
}
