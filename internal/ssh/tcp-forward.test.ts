import { describe, expect, it } from "vitest";
import { forwardRefusal } from "./tcp-forward.js";

describe("forwardRefusal", () => {
  it.each([
    ["localhost", 8000, "172.17.0.2", undefined],
    ["127.0.0.1", 8888, "172.17.0.2", undefined],
    ["::1", 22, "172.17.0.2", undefined],
    ["172.17.0.2", 80, "172.17.0.2", undefined],
    ["localhost", 8000, undefined, /no network address/],
    ["172.17.0.3", 80, "172.17.0.2", /only the container itself/],
    ["example.com", 443, "172.17.0.2", /only the container itself/],
    ["169.254.169.254", 80, "172.17.0.2", /only the container itself/],
    ["localhost", 0, "172.17.0.2", /port out of range/],
  ] as const)("%s:%d with container IP %s", (destIP, destPort, containerIp, want) => {
    const got = forwardRefusal({ destIP, destPort }, containerIp);
    if (want === undefined) expect(got).toBeUndefined();
    else expect(got).toMatch(want);
  });
});
