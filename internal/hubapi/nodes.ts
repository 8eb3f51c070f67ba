import { z } from "zod";
import { dateTimeSchema, intSchema, weiSchema } from "./common.js";
import { operation } from "./operation.js";

const MAX_GPUS = 64;

// ---- What a node says about itself (POST /v1/nodes/register, and the gRPC Hello) ----

/**
 * What a node may say about itself, in the proto's JSON (camelCase) form; used for REST and for Hello.
 * Proto3 JSON leaves out fields at their default (GPU index 0, empty strings), hence the defaults.
 */
export const gpuInfoSchema = z
  .object({
    index: z.number().int().min(0).max(1023).default(0),
    uuid: z.string().max(128).default(""),
    name: z.string().max(256).default(""),
    pciBusId: z.string().max(64).default(""),
    memoryTotalBytes: z.number().int().min(0).default(0),
  })
  .meta({ id: "GpuInfo" });

export const versionsSchema = z
  .object({
    daemon: z.string().max(64),
    nodeRuntime: z.string().max(64),
    driver: z.string().max(64),
    cudaDriver: z.string().max(64),
    docker: z.string().max(64),
    os: z.string().max(128),
    containerToolkit: z.string().max(64).describe("The NVIDIA Container Toolkit's version; absent when not installed"),
  })
  .partial()
  .meta({ id: "Versions" });

export const nodeInfoSchema = z
  .object({
    host: z.string().min(1, "host is required").max(255),
    apiPort: z.number().int().min(1).max(65535),
    // Wei per second: any size, so a decimal string (a 64-bit column overflowed at 13 digits in the seed's hub).
    pricePerSecWei: z.string().regex(/^(0|[1-9][0-9]{0,77})$/, "a non-negative decimal integer of wei").describe("wei per second as a decimal string"),
    versions: versionsSchema.optional(),
    gpus: z.array(gpuInfoSchema).max(MAX_GPUS).optional(),
    notices: z.array(z.string().max(512)).max(32).optional(),
    draining: z.boolean().optional(),
  })
  .meta({ id: "NodeInfo" });

export const registerNodeSchema = z
  .object({
    csrPem: z.string().min(1, "csrPem is required").max(8192),
    info: nodeInfoSchema,
    machineId: z.string().regex(/^[0-9a-f]{64}$/, "a 64-digit lowercase hex digest"),
    nodeId: z.string().max(64).optional().describe("the node's earlier id, to re-register the same machine"),
  })
  .meta({ id: "RegisterNodeRequest" });

export const certificateBundleSchema = z
  .object({
    clientCertPem: z.string(),
    serverCertPem: z.string(),
    caCertPem: z.string(),
    notAfter: z.string(),
    serial: z.string(),
  })
  .meta({ id: "CertificateBundle" });

/** The proto's JSON form, where a field at its default is left out (`created` when false). */
export const registerNodeResponseSchema = z
  .object({
    nodeId: z.string(),
    bundle: certificateBundleSchema,
    created: z.boolean().optional().describe("absent (false) when an existing node was re-registered"),
  })
  .meta({ id: "RegisterNodeResponse" });

// ---- The heartbeat: its public part, and the whole of it for the node's provider ----

/** Fields of a GPU anyone may read: the GPUs a renter chooses by (model, memory, load, what each does). */
const gpuMetrics = {
  index: intSchema,
  uuid: z.string(),
  name: z.string(),
  healthy: z.boolean(),
  error: z.string(),
  utilizationGpuPercent: z.number(),
  utilizationMemoryPercent: z.number(),
  memoryTotalBytes: z.number(),
  memoryUsedBytes: z.number(),
  memoryFreeBytes: z.number(),
  temperatureCelsius: z.number(),
  powerDrawMilliwatts: z.number(),
  powerLimitMilliwatts: z.number(),
};
const gpuActivities = ["GPU_ACTIVITY_UNSPECIFIED", "GPU_ACTIVITY_FREE", "GPU_ACTIVITY_MINING", "GPU_ACTIVITY_RENTED", "GPU_ACTIVITY_UNHEALTHY"] as const;

export const publicGpuStatusSchema = z
  .object({ ...gpuMetrics, activity: z.string().meta({ examples: [...gpuActivities] }) })
  .meta({ id: "PublicGpuStatus", description: "One GPU in a heartbeat, as anyone may see it: no rental id" });

/**
 * What anyone may read of a node's latest heartbeat. Declared as a schema so that a field added to
 * the heartbeat stays private until someone adds it here: rentals, miners' container ids and each
 * GPU's rental id never are.
 */
export const publicHeartbeatSchema = z
  .object({
    seq: intSchema,
    uptimeSeconds: z.number(),
    sentAtUnixMs: z.number(),
    draining: z.boolean(),
    gpus: z.array(publicGpuStatusSchema),
  })
  .meta({ id: "PublicHeartbeat", description: "For everyone: seq, uptimeSeconds, sentAtUnixMs, draining and the GPUs without their rental ids" });

export type PublicHeartbeatBody = z.infer<typeof publicHeartbeatSchema>;

const versionsViewSchema = z.object({ daemon: z.string(), nodeRuntime: z.string(), driver: z.string(), cudaDriver: z.string(), docker: z.string(), os: z.string(), containerToolkit: z.string() });

export const gpuStatusSchema = z
  .object({ ...gpuMetrics, activity: z.enum(gpuActivities), rentalId: z.string().describe("the rental using it; empty when none"), pciBusId: z.string() })
  .meta({ id: "GpuStatus", description: "One GPU in a heartbeat, as the node reported it" });

const nodeSshEndpointSchema = z.object({
  host: z.string(),
  port: intSchema,
  user: z.string(),
  command: z.string(),
  hostKeyFingerprint: z.string(),
  hostPublicKey: z.string(),
});

export const rentalInfoSchema = z
  .object({
    rentalId: z.string(),
    state: intSchema.describe("RentalState: 0 unspecified, 1 starting, 2 running, 3 exited, 4 stopped, 5 failed"),
    image: z.string(),
    gpuIndices: z.array(intSchema),
    gpuUuids: z.array(z.string()),
    containerId: z.string(),
    ssh: nodeSshEndpointSchema.optional(),
    exitCode: intSchema,
    oomKilled: z.boolean(),
    reason: z.string(),
    startedAt: z.string(),
    endedAt: z.string(),
    adopted: z.boolean().describe("the daemon found the container running at its start and took it over"),
  })
  .meta({ id: "RentalInfo", description: "A rental container as its node reports it (the node's provider only)" });

export const minerStatusSchema = z
  .object({
    gpuIndex: intSchema,
    state: intSchema.describe("MinerState: 0 unspecified, 1 running, 2 paused, 3 backoff, 4 disabled"),
    containerId: z.string(),
    restarts: intSchema,
    lastError: z.string(),
  })
  .meta({ id: "MinerStatus" });

/** The heartbeat as the node sent it (the hub's stored form: GPU activities by name). */
export const heartbeatSchema = z
  .object({
    seq: intSchema,
    nodeId: z.string(),
    uptimeSeconds: z.number(),
    versions: versionsViewSchema.optional(),
    gpus: z.array(gpuStatusSchema),
    sentAtUnixMs: z.number(),
    rentals: z.array(rentalInfoSchema),
    miners: z.array(minerStatusSchema),
    draining: z.boolean(),
  })
  .meta({ id: "Heartbeat", description: "For the node's provider: the heartbeat as sent, rentals and miners included" });

// ---- The marketplace's views of a node ----

export const nodeGpuSchema = z
  .object({ index: intSchema, uuid: z.string(), name: z.string(), pciBusId: z.string(), memoryTotalBytes: z.number() })
  .meta({ id: "NodeGpu", description: "A GPU as the node registered it" });

export const nodeStatusValues = ["online", "offline", "draining"] as const;

/** Which node-daemon a node runs, and the recommended one when it is older (GET /v1/releases). */
export const daemonVersionFields = {
  daemonVersion: z.string().nullable().describe("the node-daemon version the node reported; null when it named none"),
  daemonBehind: z.string().nullable().describe("the recommended node-daemon version when this node runs an older one (node-daemon update installs it); null when it is not behind or none is recommended"),
};

const publicNodeFields = {
  id: z.string(),
  wallet: z.string(),
  host: z.string(),
  pricePerSecWei: weiSchema,
  status: z.enum(nodeStatusValues).describe("draining: online but taking no new rentals (node-daemon drain); running ones go on"),
  draining: z.boolean(),
  connected: z.boolean(),
  gpus: z.array(nodeGpuSchema),
  versions: z.record(z.string(), z.string()),
  registeredAt: dateTimeSchema,
  updatedAt: dateTimeSchema,
  refusesRentals: z.string().nullable().describe("Why the hub places no rental on this node (an NVIDIA Container Toolkit with a known container escape); null when it does"),
  ...daemonVersionFields,
};

export const nodeViewSchema = z
  .object({
    ...publicNodeFields,
    lastHeartbeat: z.object({ seq: intSchema, receivedAt: dateTimeSchema, body: publicHeartbeatSchema.nullable() }).nullable(),
  })
  .meta({ id: "NodeView", description: "What anyone sees of a node: no rental, image, container or SSH endpoint" });

export const ownerNodeViewSchema = z
  .object({
    ...publicNodeFields,
    lastHeartbeat: z.object({ seq: intSchema, receivedAt: dateTimeSchema, body: z.union([heartbeatSchema, publicHeartbeatSchema]).nullable() }).nullable(),
    apiPort: intSchema,
    notices: z.array(z.string()),
    certificate: z.object({ serial: z.string(), notAfter: dateTimeSchema }),
  })
  .meta({ id: "OwnerNodeView", description: "A node as its provider (signed in with the node's wallet) sees it: also its API port, notices, certificate and the whole heartbeat" });

export const issuedCertificateSchema = z.object({ serial: z.string(), reason: z.enum(["bootstrap", "renewal"]), issuedAt: dateTimeSchema, notAfter: dateTimeSchema });

export const ownerNodeDetailSchema = ownerNodeViewSchema
  .extend({ certificates: z.array(issuedCertificateSchema).describe("every certificate issued to the node") })
  .meta({ id: "OwnerNodeDetail", description: "One node as its provider sees it, with the certificates issued to it" });

export type PublicNodeView = z.input<typeof nodeViewSchema>;
export type OwnerNodeView = z.input<typeof ownerNodeViewSchema>;

/** The node API's GetStatusResponse as the hub receives it (enums as numbers). */
export const nodeStatusSchema = z
  .object({
    nodeId: z.string(),
    hubConnected: z.boolean(),
    uptimeSeconds: z.number(),
    certificateNotAfter: z.string(),
    info: z
      .object({
        host: z.string(),
        apiPort: intSchema,
        pricePerSecWei: z.string(),
        versions: versionsViewSchema.optional(),
        gpus: z.array(nodeGpuSchema),
        notices: z.array(z.string()),
        draining: z.boolean(),
      })
      .optional(),
    gpus: z.array(gpuStatusSchema.extend({ activity: intSchema.describe("GpuActivity: 0 unspecified, 1 free, 2 mining, 3 rented, 4 unhealthy") })),
    heartbeatsSent: intSchema,
    rentals: z.array(rentalInfoSchema),
    miners: z.array(minerStatusSchema),
    hubAddress: z.string().describe("the hub's gRPC address this node talks to"),
    hubReconnects: intSchema.describe("streams reopened since the daemon started"),
    lastHeartbeatAt: z.string().describe("when the last heartbeat went out (RFC 3339); empty before the first"),
  })
  .meta({ id: "NodeStatus", description: "The node API's GetStatusResponse, as the node answered the hub" });

/** A GPU's samples, column by column, oldest first: `t[i]` is the time of the others' `[i]`. */
const gpuSamplesSchema = z.object({
  t: z.array(z.number()).describe("Sample times, unix milliseconds, ascending"),
  utilizationGpuPercent: z.array(z.number()).describe("GPU utilisation, percent"),
  memoryUsedBytes: z.array(z.number()).describe("Memory used, bytes"),
  temperatureCelsius: z.array(z.number()).describe("Temperature, degrees Celsius"),
});

export const gpuHistorySchema = z
  .object({
    nodeId: z.string(),
    from: intSchema.describe("Start of the window, unix milliseconds"),
    to: intSchema.describe("End of the window (now), unix milliseconds"),
    gpus: z.array(z.object({ index: intSchema, uuid: z.string(), name: z.string(), memoryTotalBytes: z.number(), samples: gpuSamplesSchema })),
  })
  .meta({ id: "GpuHistory" });

// ---- Operations ----

const nodeIdParams = z.object({ id: z.string().describe("The node's id") });

export const registerNode = operation({
  method: "POST",
  path: "/v1/nodes/register",
  operationId: "registerNode",
  tags: ["nodes"],
  summary: "Registers a machine for the signed-in wallet and signs its certificates",
  security: "session",
  body: { schema: registerNodeSchema },
  reply: { status: 200, description: "Registered", schema: registerNodeResponseSchema },
  errors: { 400: "invalid_request: the body is not a valid registration", 401: "No valid session", 403: "The wallet or machine is banned by the hub's operator" },
});

export const listNodes = operation({
  method: "GET",
  path: "/v1/nodes",
  operationId: "listNodes",
  tags: ["nodes"],
  summary: "Every registered node, with its status and the public part of its latest heartbeat (the whole of it for the node's provider)",
  security: "optional",
  reply: { status: 200, description: "Nodes", schema: z.object({ nodes: z.array(z.union([ownerNodeViewSchema, nodeViewSchema])) }) },
  errors: { 401: "A session token was sent but is expired or unknown" },
});

export const getNode = operation({
  method: "GET",
  path: "/v1/nodes/{id}",
  operationId: "getNode",
  tags: ["nodes"],
  summary: "One node; its provider also gets the certificates issued to it",
  security: "optional",
  params: nodeIdParams,
  reply: { status: 200, description: "The node", schema: z.union([ownerNodeDetailSchema, nodeViewSchema]) },
  errors: { 401: "A session token was sent but is expired or unknown", 404: "unknown_node" },
});

export const getNodeGpuHistory = operation({
  method: "GET",
  path: "/v1/nodes/{id}/gpu-history",
  operationId: "getNodeGpuHistory",
  tags: ["nodes"],
  summary: "The last hour of each GPU's utilisation, memory used and temperature, as the node's heartbeats reported them; public, like the GPUs in the node list",
  description:
    "Held in the hub's memory (not across a restart) at the hub's clock: each heartbeat adds a sample per GPU, at most 240 points per GPU for the hour (when heartbeats come faster than that, older samples are averaged into 15-second buckets). A GPU that could not be read adds no sample. Columnar, oldest first: `samples.t[i]` is the time of `samples.utilizationGpuPercent[i]` and the others.",
  security: "none",
  params: nodeIdParams,
  reply: { status: 200, description: "The node's GPUs with samples in the window, by index; none for a node without GPUs or silent for the hour", schema: gpuHistorySchema },
  errors: { 404: "unknown_node" },
});

export const getNodeLive = operation({
  method: "GET",
  path: "/v1/nodes/{id}/live",
  operationId: "getNodeLive",
  tags: ["nodes"],
  summary: "Asks the node itself, over its mTLS node API, how it is; only for the node's provider, a few times a minute",
  security: "session",
  params: nodeIdParams,
  reply: { status: 200, description: "The node's own answer", schema: nodeStatusSchema },
  errors: { 401: "No valid session", 403: "not_node_owner", 404: "unknown_node", 429: "rate_limited (Retry-After says when to come back)", 502: "node_unreachable: the node's API did not answer the hub" },
});
