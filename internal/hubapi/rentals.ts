import { z } from "zod";
import { parseAuthorizedKeys } from "../ssh/ssh-access.js";
import { dateTimeSchema, intSchema, weiSchema } from "./common.js";
import { operation } from "./operation.js";
import { paymentSchema } from "./payments.js";

const GIB = 1024 ** 3;

/** A renter's ask. Every field is checked here: nothing invalid reaches the store or a node. */
export const createRentalSchema = z
  .object({
    nodeId: z.string().max(64).default("").describe("empty: the cheapest online node with gpuCount free GPUs of gpuModel within maxPricePerSecWei"),
    gpuCount: z.number().int().min(0).max(64).default(1).describe("0: a CPU-only rental (no GPUs), on any node with room"),
    gpuIds: z.array(z.string().min(1).max(128)).max(64).default([]).describe("GPU indices or UUIDs on nodeId"),
    gpuModel: z.string().max(128).default("").describe('a part of the model name, case-insensitive ("h100"); the node gives only GPUs of that model'),
    maxPricePerSecWei: z
      .string()
      .regex(/^\d{1,78}$/, "a whole number of wei per second, as a decimal string")
      .default("")
      .describe("wei per second, as a decimal string (any size): only nodes at this price or less (409 price_above_max for a named node)"),
    image: z.string().min(1).max(255),
    cpuMillis: z.number().int().min(0).max(1_024_000).default(0),
    memoryBytes: z.number().int().min(0).max(4096 * GIB).default(0),
    sshPublicKey: z.string().max(16_384).optional(),
    sshPublicKeys: z.array(z.string().max(16_384)).max(16).default([]),
    command: z.array(z.string().max(65_536)).max(256).default([]).describe("a batch job: the rental ends when it does"),
    env: z
      .array(
        z
          .object({
            name: z
              .string()
              .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, "a variable name")
              .refine((n) => n !== "NVIDIA_VISIBLE_DEVICES", "set by the node from the rental's GPUs"),
            value: z.string().max(32_768),
          })
          .strict(),
      )
      .max(64)
      .default([])
      .describe("the rental process's environment (not NVIDIA_VISIBLE_DEVICES: the node sets it from the rental's GPUs)"),
    maxDurationSeconds: z.number().int().min(0).max(90 * 86_400).default(0).describe("0: no limit"),
    runAsRoot: z
      .boolean()
      .default(false)
      .describe("SSH sessions as root; by default they run as the image's own user (its USER), with that user's HOME and login shell, as docker exec does"),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.gpuIds.length > 0 && !v.nodeId) ctx.addIssue({ code: "custom", path: ["gpuIds"], message: "naming GPUs needs a nodeId" });
    const keys = [...v.sshPublicKeys, ...(v.sshPublicKey ? [v.sshPublicKey] : [])];
    if (keys.length === 0 && v.command.length === 0) ctx.addIssue({ code: "custom", path: ["sshPublicKey"], message: "an interactive rental needs an SSH public key" });
    try {
      parseAuthorizedKeys(keys);
    } catch (err) {
      ctx.addIssue({ code: "custom", path: ["sshPublicKey"], message: (err as Error).message });
    }
  })
  .meta({ id: "CreateRental", description: "An interactive rental needs an SSH key; a batch rental (command given) may go without. gpuIds need a nodeId." });

export type CreateRentalRequest = z.output<typeof createRentalSchema>;

export const rentalStatusValues = ["awaiting_payment", "starting", "running", "node_offline", "exited", "stopped", "failed"] as const;

export const sshEndpointSchema = z
  .object({
    host: z.string(),
    port: intSchema,
    user: z.string(),
    command: z.string().meta({ examples: ["ssh -p 2201 renter@203.0.113.7"] }),
    hostKeyFingerprint: z.string().describe("as OpenSSH prints it (SHA256:...)"),
    hostPublicKey: z.string().optional().describe('"ssh-ed25519 AAAA...", checked against the fingerprint; absent from rentals made before nodes sent it'),
  })
  .meta({ id: "SshEndpoint" });

export const pullSchema = z
  .object({
    status: z.string(),
    currentBytes: z.number(),
    totalBytes: z.number(),
    layersDone: intSchema,
    layersTotal: intSchema,
    at: dateTimeSchema,
  })
  .meta({ id: "Pull", description: "While the rental starts: its image pull, totalled over the layers, as the node last reported it (about once a second)" });

export type PullView = z.input<typeof pullSchema>;

export const rentalSchema = z
  .object({
    id: z.string(),
    renter: z.string(),
    nodeId: z.string(),
    status: z.enum(rentalStatusValues),
    image: z.string(),
    gpuIndices: z.array(intSchema),
    command: z.array(z.string()),
    ssh: sshEndpointSchema.nullable(),
    sshCommand: z.string().nullable().describe("What to paste: ssh with the host key pinned (OpenSSH 8.5+), so it never asks to trust an unknown key"),
    sshKnownHosts: z.string().nullable().describe("The known_hosts line for the rental's host and port, for clients that take one (scp, sftp, IDEs)"),
    reason: z.string(),
    exitCode: intSchema.nullable(),
    createdAt: dateTimeSchema,
    startedAt: dateTimeSchema.nullable(),
    endedAt: dateTimeSchema.nullable(),
    expiresAt: dateTimeSchema.nullable(),
    secondsUsed: intSchema,
    pricePerSecWei: weiSchema,
    costWei: weiSchema.describe("seconds used x the node's price at rental time; a paid rental never costs more than its deposit"),
    pull: pullSchema.nullable().describe("While the rental starts: its image pull; null otherwise"),
    payment: paymentSchema
      .nullable()
      .describe("Paid on chain: deposit, used, refund, transaction hashes, and while it awaits payment the call to make; null for a free rental"),
  })
  .meta({ id: "Rental" });

export type RentalView = z.infer<typeof rentalSchema>;

const rentalIdParams = z.object({ id: z.string().describe("The rental's id (a UUID)") });

/** Hub replicas: the replica holding the node's stream answers; when it dies meanwhile, this. */
const ownerUnavailable = { 503: "owner_unavailable: the hub replica holding the node's stream did not answer (it died, and the node is moving to another); try again in a few seconds" } as const;

const nodeAnswerErrors = {
  502: "The node refused or failed the command (its code)",
  ...ownerUnavailable,
  504: "node_timeout: the node is connected but did not answer in time; it may still be working on it",
} as const;

export const createRental = operation({
  method: "POST",
  path: "/v1/rentals",
  operationId: "createRental",
  tags: ["rentals"],
  summary: "Starts a rental on a named node, or on any online node with enough free GPUs",
  security: "session",
  body: { schema: createRentalSchema },
  reply: { status: 202, description: 'Accepted; status "starting" until the node reports (or "awaiting_payment" on a hub that takes payments)', schema: rentalSchema },
  errors: {
    400: "invalid_request",
    401: "No valid session",
    404: "unknown_node",
    409: "no_capacity, node_offline, node_draining, price_above_max, ...",
    ...ownerUnavailable,
  },
});

export const listRentals = operation({
  method: "GET",
  path: "/v1/rentals",
  operationId: "listRentals",
  tags: ["rentals"],
  summary: "The wallet's rentals as renter, or those on its nodes as provider; newest first",
  security: "session",
  query: z.object({ role: z.enum(["renter", "provider"], { error: "must be renter or provider" }).default("renter") }),
  reply: { status: 200, description: "Rentals", schema: z.object({ rentals: z.array(rentalSchema) }) },
  errors: { 400: "invalid_request: role must be renter or provider", 401: "No valid session" },
});

export const getRental = operation({
  method: "GET",
  path: "/v1/rentals/{id}",
  operationId: "getRental",
  tags: ["rentals"],
  summary: "One rental, for its renter or its node's provider (anyone else: 404)",
  security: "session",
  params: rentalIdParams,
  reply: { status: 200, description: "The rental", schema: rentalSchema },
  errors: { 401: "No valid session", 404: "unknown_rental" },
});

export const stopRental = operation({
  method: "POST",
  path: "/v1/rentals/{id}/stop",
  operationId: "stopRental",
  tags: ["rentals"],
  summary: "Stops a rental (renter only); stopping an ended rental answers it unchanged",
  description: "When the node is offline (or goes offline before answering) the rental is marked stopped at once and the node is told to stop it when it reconnects.",
  security: "session",
  params: rentalIdParams,
  reply: { status: 200, description: "The rental after stopping", schema: rentalSchema },
  errors: { 401: "No valid session", 403: "not_your_rental: providers can see rentals on their nodes, not stop them", 404: "unknown_rental", ...nodeAnswerErrors },
});

export const deleteRental = operation({
  method: "DELETE",
  path: "/v1/rentals/{id}",
  operationId: "deleteRental",
  tags: ["rentals"],
  summary: "Removes an ended rental's container and logs from its node now, instead of after the node's -ended-retention (renter only; the hub keeps the record and its cost)",
  security: "session",
  params: rentalIdParams,
  reply: { status: 200, description: "The rental, whose container is gone", schema: rentalSchema },
  errors: { 401: "No valid session", 403: "not_your_rental", 404: "unknown_rental", 409: "rental_active (stop it first) or node_offline", ...nodeAnswerErrors },
});

const TAIL_RANGE = "must be a whole number from 1 to 10000";

export const getRentalLogs = operation({
  method: "GET",
  path: "/v1/rentals/{id}/logs",
  operationId: "getRentalLogs",
  tags: ["rentals"],
  summary: "The last lines of the rental container's output (renter only)",
  security: "session",
  params: rentalIdParams,
  query: z.object({
    tail: z.coerce.number({ error: TAIL_RANGE }).int(TAIL_RANGE).min(1, TAIL_RANGE).max(10_000, TAIL_RANGE).default(100).describe("how many lines, from the end"),
  }),
  reply: { status: 200, description: "Logs", schema: z.object({ rentalId: z.string(), text: z.string() }) },
  errors: {
    400: "invalid_request: tail out of range",
    401: "No valid session",
    403: "not_your_rental",
    404: "unknown_rental",
    409: "node_offline: the rental's node is offline, or disconnected before it answered; try again once it is back",
    410: "logs_removed: the rental ended and its container was removed",
    ...nodeAnswerErrors,
  },
});
