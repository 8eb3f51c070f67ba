import { z } from "zod";
import { dateTimeSchema, intSchema, weiSchema } from "./common.js";
import { daemonVersionFields, nodeStatusValues } from "./nodes.js";
import { operation } from "./operation.js";
import { rentalSchema } from "./rentals.js";

export const gpuLiveStateValues = ["free", "mining", "rented", "unhealthy", "unknown"] as const;

/** One GPU as the dashboard shows it; metrics are null until the node's first heartbeat names the GPU. */
export const gpuLiveSchema = z
  .object({
    index: intSchema,
    uuid: z.string(),
    model: z.string(),
    state: z.enum(gpuLiveStateValues),
    utilizationPercent: z.number().nullable(),
    memoryUsedBytes: z.number().nullable(),
    memoryTotalBytes: z.number(),
    temperatureCelsius: z.number().nullable(),
    powerWatts: z.number().nullable(),
    powerLimitWatts: z.number().nullable(),
    error: z.string().nullable().describe("NVML's error when the GPU could not be read"),
  })
  .meta({ id: "GpuLive", description: "Metrics are null until the node's first heartbeat" });

/** Marketplace information about one node: anyone may see it, so it names no rental (one frame goes to every client). */
export const nodeLiveSchema = z
  .object({
    id: z.string(),
    wallet: z.string(),
    host: z.string(),
    status: z.enum(nodeStatusValues).describe("draining: online but taking no new rentals (node-daemon drain); running ones go on"),
    pricePerSecWei: weiSchema,
    lastHeartbeatAt: dateTimeSchema.nullable(),
    gpus: z.array(gpuLiveSchema),
    refusesRentals: z.string().nullable().describe("Why the hub places no rental on this node (an NVIDIA Container Toolkit with a known container escape); null when it does"),
    ...daemonVersionFields,
  })
  .meta({ id: "NodeLive" });

export type GpuLive = z.input<typeof gpuLiveSchema>;
export type GpuLiveState = GpuLive["state"];
export type NodeLive = z.input<typeof nodeLiveSchema>;

export const rentalEntrySchema = z
  .object({ role: z.enum(["renter", "provider"]), rental: rentalSchema })
  .meta({ id: "RentalEntry", description: "`rental` event: one rental changed; sent only to its renter and its node's provider" });

export type RentalEntry = z.input<typeof rentalEntrySchema>;
export type RentalRole = RentalEntry["role"];

/** The events of GET /v1/events, by SSE event name: each frame's data is parsed through its schema before it is sent. */
export const eventSchemas = {
  snapshot: z
    .object({
      wallet: z.string().nullable().describe("the signed-in wallet, or null"),
      serverTime: dateTimeSchema,
      nodes: z.array(nodeLiveSchema),
      rentals: z.array(rentalEntrySchema),
    })
    .meta({ id: "SnapshotEvent", description: "At connect: every node, and the wallet's rentals as renter and those on its nodes as provider" }),
  nodes: z.object({ nodes: z.array(nodeLiveSchema) }).meta({ id: "NodesEvent", description: "A batch of changed nodes" }),
  rental: rentalEntrySchema,
  session: z.object({ wallet: z.null(), reason: z.string() }).meta({ id: "SessionEvent", description: "The session ended: rentals are no longer sent" }),
};

export type EventStreamEvents = { [K in keyof typeof eventSchemas]: z.input<(typeof eventSchemas)[K]> };

export const events = operation({
  method: "GET",
  path: "/v1/events",
  operationId: "events",
  tags: ["live"],
  summary: "Server-Sent Events: a snapshot, then node and rental changes",
  description:
    "Anyone sees nodes. With a session (cookie or bearer), also the wallet's rentals as renter and those on its nodes as provider. Events: `snapshot` (at connect; x-event-schemas.snapshot), `nodes` (a batch of changed nodes, after a heartbeat, a presence or a drain change; each node at most once per second), `rental` (one rental changed), `session` (the session ended: rentals are no longer sent). A `: keep-alive` comment every 15 s. Reconnect for a fresh snapshot.",
  security: "optional",
  reply: { status: 200, description: "An endless event stream", content: { "text/event-stream": z.string() }, events: eventSchemas },
});
