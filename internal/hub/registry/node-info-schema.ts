import { z } from "zod";

const MAX_GPUS = 64;

/**
 * What a node may say about itself, in the proto's JSON (camelCase) form; used for REST and for Hello.
 * Proto3 JSON leaves out fields at their default (GPU index 0, empty strings), hence the defaults.
 */
export const gpuInfoSchema = z.object({
  index: z.number().int().min(0).max(1023).default(0),
  uuid: z.string().max(128).default(""),
  name: z.string().max(256).default(""),
  pciBusId: z.string().max(64).default(""),
  memoryTotalBytes: z.number().int().min(0).default(0),
});

export const nodeInfoSchema = z.object({
  host: z.string().min(1, "host is required").max(255),
  apiPort: z.number().int().min(1).max(65535),
  // Wei per second: any size, so a decimal string (a 64-bit column overflowed at 13 digits in the seed's hub).
  pricePerSecWei: z.string().regex(/^(0|[1-9][0-9]{0,77})$/, "a non-negative decimal integer of wei"),
  versions: z
    .object({
      daemon: z.string().max(64),
      nodeRuntime: z.string().max(64),
      driver: z.string().max(64),
      cudaDriver: z.string().max(64),
      docker: z.string().max(64),
      os: z.string().max(128),
      containerToolkit: z.string().max(64),
    })
    .partial()
    .optional(),
  gpus: z.array(gpuInfoSchema).max(MAX_GPUS).optional(),
  notices: z.array(z.string().max(512)).max(32).optional(),
  draining: z.boolean().optional(),
});

export const registerNodeSchema = z.object({
  csrPem: z.string().min(1, "csrPem is required").max(8192),
  info: nodeInfoSchema,
  machineId: z.string().regex(/^[0-9a-f]{64}$/, "a 64-digit lowercase hex digest"),
  nodeId: z.string().max(64).optional(),
});
