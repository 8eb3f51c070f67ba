import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { toolkitRefusal } from "../hub/rentals/toolkit-policy.js";
import { compareVersions, readContainerToolkitVersion } from "./container-toolkit.js";

const STAND_IN_DIR = fileURLToPath(new URL("../../test/fixtures/nvidia-ctk", import.meta.url));

describe("the NVIDIA Container Toolkit's version", () => {
  it("is read from nvidia-ctk --version, and is empty where no toolkit is installed", async () => {
    const path = process.env.PATH;
    try {
      process.env.PATH = `${STAND_IN_DIR}:/usr/bin:/bin`;
      process.env.STANDIN_CONTAINER_TOOLKIT_VERSION = "1.16.2";
      expect(await readContainerToolkitVersion({ timeoutMs: 5_000 })).toBe("1.16.2");
      process.env.PATH = "/nonexistent";
      expect(await readContainerToolkitVersion({ timeoutMs: 5_000 })).toBe("");
    } finally {
      process.env.PATH = path;
      delete process.env.STANDIN_CONTAINER_TOOLKIT_VERSION;
    }
  });

  it("compares as numbers, part by part", () => {
    expect(compareVersions("1.17.8", "1.17.8")).toBe(0);
    expect(compareVersions("1.17.10", "1.17.8")).toBe(1);
    expect(compareVersions("1.9.0", "1.17.8")).toBe(-1);
    expect(compareVersions("2.0", "1.17.8")).toBe(1);
  });

  it("keeps rentals off a node below the minimum, unless the operator exempts it or no toolkit is installed", () => {
    const policy = { minimum: "1.17.8", exempt: ["exempt-node"] };
    expect(toolkitRefusal({ id: "n", versions: { containerToolkit: "1.17.7" } }, policy)).toMatch(/1\.17\.7 is older than 1\.17\.8/);
    expect(toolkitRefusal({ id: "n", versions: { containerToolkit: "1.17.8" } }, policy)).toBeNull();
    expect(toolkitRefusal({ id: "exempt-node", versions: { containerToolkit: "1.14.0" } }, policy)).toBeNull();
    expect(toolkitRefusal({ id: "n", versions: {} }, policy)).toBeNull();
    expect(toolkitRefusal({ id: "n", versions: { containerToolkit: "1.14.0" } }, { minimum: "", exempt: [] })).toBeNull();
  });
});
