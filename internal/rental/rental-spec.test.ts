import { describe, expect, it } from "vitest";
import { toCreateOptions } from "../container/create-options.js";
import { parseWorkloadLabels } from "../container/labels.js";
import type { StartRental } from "../proto/gen/gpunode/v1/gpunode.js";
import { parseRentalFacts } from "./rental-labels.js";
import { checkStartRental, defaultRentalDefaults, rentalLimits } from "./rental-request.js";
import { KEEPALIVE_SCRIPT, rentalContainerSpec } from "./rental-spec.js";

const GIB = 1024 ** 3;
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl renter";
const cmd = (over: Partial<StartRental> = {}): StartRental => ({
  rentalId: "r-1", image: "nvidia/cuda:12.6.0-base-ubuntu22.04", gpus: { count: 0, ids: ["0", "2"], model: "" }, cpuMillis: 0, memoryBytes: 0, shmBytes: 0,
  pidsLimit: 0, env: [{ name: "HF_HOME", value: "/data" }], command: [], sshPublicKeys: [KEY], sshPasswordHash: "", maxDurationSeconds: 3600, runAsRoot: false, ...over,
});
const defaults = defaultRentalDefaults(64 * GIB, 16);
const facts = { sshPort: 2201, sshUser: "renter", sshKeys: [KEY], startedAt: new Date("2026-11-23T12:00:00Z"), maxDurationSeconds: 3600, batch: false, runAsRoot: false };
const spec = (c: StartRental) => rentalContainerSpec({ cmd: c, nodeId: "node-1", gpuIndices: [0, 2], limits: rentalLimits(c, 2, defaults), facts, helper: { source: "/var/lib/node-daemon/sftp-helper", target: "/.gpunode-helper" } });

describe("a rental's container", () => {
  it("gets exactly its GPUs, labels a restarted daemon can adopt it by, and a keep-alive for SSH", () => {
    const s = spec(cmd());
    expect(s.gpuDeviceIds).toEqual(["0", "2"]);
    expect(parseWorkloadLabels(s.labels)).toEqual({ kind: "rental", rentalId: "r-1", nodeId: "node-1", gpuIds: ["0", "2"] });
    expect(parseRentalFacts(s.labels)).toEqual(facts);
    expect(s.entrypoint).toEqual(["/bin/sh", "-c", KEEPALIVE_SCRIPT]);
    expect(s.restart).toEqual({ name: "unless-stopped" });
    expect(s.mounts).toEqual([{ type: "bind", source: "/var/lib/node-daemon/sftp-helper", target: "/.gpunode-helper", readOnly: true }]);
  });

  it("runs a batch job's command once, never restarting it", () => {
    const s = spec(cmd({ command: ["python", "train.py"] }));
    expect(s.cmd).toEqual(["python", "train.py"]);
    expect(s.entrypoint).toBeUndefined();
    expect(s.restart).toEqual({ name: "no" });
  });

  it("is hardened by the engine mapping: not privileged, capabilities dropped, limits set, no Docker socket", () => {
    const body = toCreateOptions(spec(cmd()));
    expect(body.HostConfig.Privileged).toBe(false);
    expect(body.HostConfig.CapDrop).toEqual(["ALL"]);
    expect(body.HostConfig.Memory).toBe(2 * 16 * GIB);
    expect(body.HostConfig.PidsLimit).toBe(defaults.pidsLimit);
    expect(JSON.stringify(body)).not.toContain("docker.sock");
  });

  it("never carries the SSH password hash in its configuration", () => {
    const hash = "scrypt$32768$8$1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
    expect(JSON.stringify(toCreateOptions(spec(cmd({ sshPasswordHash: hash }))))).not.toContain("scrypt$");
  });

  it.each([
    [{ rentalId: "../etc" }, "rental id"],
    [{ image: "UPPER/Case" }, "image"],
    [{ sshPublicKeys: [] }, "at least one SSH public key"],
    [{ sshPublicKeys: ["ssh-dss AAAA"] }, "ssh_public_keys"],
    [{ env: [{ name: "NVIDIA_VISIBLE_DEVICES", value: "all" }] }, "NVIDIA_VISIBLE_DEVICES"],
    [{ sshPasswordHash: "hunter2" }, "not a scrypt hash"],
  ] as Array<[Partial<StartRental>, string]>)("refuses %j, saying why", (over, why) => {
    expect(() => checkStartRental(cmd(over))).toThrow(expect.objectContaining({ code: "invalid_argument", message: expect.stringContaining(why) }));
  });

  it("refuses more memory than the machine allows", () => {
    expect(() => rentalLimits(cmd({ memoryBytes: 128 * GIB }), 2, defaults)).toThrow(expect.objectContaining({ code: "invalid_argument" }));
  });
});
