import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { GetStatusResponse, GpuStatus, Heartbeat, MinerStatus, NodeInfo, RentalInfo, SshEndpoint, Versions } from "../proto/gen/gpunode/v1/gpunode.js";
import { gpuStatusSchema, heartbeatSchema, minerStatusSchema, nodeStatusSchema, rentalInfoSchema } from "./nodes.js";

const keys = (o: object): string[] => Object.keys(o).sort();
const declared = (s: z.ZodObject): string[] => Object.keys(s.shape).sort();

/**
 * A node's provider sees its heartbeat and its node API's status whole: the schemas those views go
 * through must name every field of the proto messages, or a field added to the proto would be
 * dropped on its way to the provider without anyone deciding so.
 */
describe("the provider's views of proto messages", () => {
  it("declare every field of the messages they carry", () => {
    expect(declared(heartbeatSchema)).toEqual(keys(Heartbeat.fromPartial({})));
    expect(declared(heartbeatSchema.shape.versions.unwrap())).toEqual(keys(Versions.fromPartial({})));
    expect(declared(gpuStatusSchema)).toEqual(keys(GpuStatus.fromPartial({})));
    expect(declared(rentalInfoSchema)).toEqual(keys(RentalInfo.fromPartial({})));
    expect(declared(rentalInfoSchema.shape.ssh.unwrap())).toEqual(keys(SshEndpoint.fromPartial({})));
    expect(declared(minerStatusSchema)).toEqual(keys(MinerStatus.fromPartial({})));
    expect(declared(nodeStatusSchema)).toEqual(keys(GetStatusResponse.fromPartial({})));
    expect(declared(nodeStatusSchema.shape.info.unwrap())).toEqual(keys(NodeInfo.fromPartial({})));
  });
});
