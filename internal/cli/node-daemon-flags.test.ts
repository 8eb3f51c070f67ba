import { describe, expect, it } from "vitest";
import { normalizeGoStyleFlags } from "./go-style-flags.js";
import { nodeDaemonProgram, resolveNodeDaemonSettings, toNodeDaemonArgs } from "./node-daemon-flags.js";

async function parse(argv: string[]) {
  const program = nodeDaemonProgram().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  program.parse(normalizeGoStyleFlags(argv), { from: "user" });
  return toNodeDaemonArgs(await resolveNodeDaemonSettings(program.opts(), {})).daemon;
}

describe("node-daemon flags", () => {
  it("has the Go daemon's defaults", async () => {
    const d = await parse([]);
    expect(d.hub).toBe("localhost:8443");
    expect(d.apiPort).toBe(8444);
    expect(d.enableMining).toBe(true);
    expect(d.miningImage).toBe("mingeyom/worldland-mio:latest");
    expect(d.miningDataDir).toBe("/data/worldland");
    expect(d.pricePerSecWei).toBe("1000000000");
    expect(d.certDir).not.toContain("worldland");
  });

  it("accepts -flag value, -flag=value and --flag value alike", async () => {
    for (const argv of [["-hub", "h:1"], ["-hub=h:1"], ["--hub", "h:1"], ["--hub=h:1"]]) expect((await parse(argv)).hub).toBe("h:1");
    expect((await parse(["-enable-mining=false"])).enableMining).toBe(false);
    expect((await parse(["-enable-mining"])).enableMining).toBe(true);
    expect((await parse(["-insecure-http"])).insecureHttp).toBe(true);
    expect((await parse(["-insecure-http=false"])).insecureHttp).toBe(false);
  });

  it("collects repeated -mining-env NAME=VALUE flags, values may hold '='", async () => {
    expect((await parse(["-mining-env", "POOL=stratum+tcp://p:3333", "-mining-env=WORKER=a=b"])).miningEnv).toEqual([
      { name: "POOL", value: "stratum+tcp://p:3333" },
      { name: "WORKER", value: "a=b" },
    ]);
  });

  it("isolates rentals by default, with no allow-list and no disk limit", async () => {
    const d = await parse([]);
    expect(d.rentalIsolation).toBe(true);
    expect(d.rentalEgressAllow).toEqual([]);
    expect(d.rentalDiskLimitBytes).toBeUndefined();
  });

  it("reads the rental allow-list as IPv4 CIDRs and the disk limit as a size", async () => {
    const d = await parse(["-rental-egress-allow", "10.1.2.3/16, 192.168.1.5", "-rental-disk-limit", "100G", "-rental-isolation=false"]);
    expect(d.rentalEgressAllow).toEqual(["10.1.0.0/16", "192.168.1.5/32"]);
    expect(d.rentalDiskLimitBytes).toBe(100 * 1024 ** 3);
    expect(d.rentalIsolation).toBe(false);
    expect((await parse(["-rental-disk-limit", "1.5TiB"])).rentalDiskLimitBytes).toBe(1.5 * 1024 ** 4);
    expect((await parse(["-rental-disk-limit="])).rentalDiskLimitBytes).toBeUndefined();
  });

  it("takes a price of any size as an exact decimal string", async () => {
    expect((await parse(["-price-per-sec", "99999999999999999999999999"])).pricePerSecWei).toBe("99999999999999999999999999");
  });

  it.each([
    [["-price-per-sec", "1e9"], "wei"],
    [["-api-port", "70000"], "0 to 65535"],
    [["-memory-gb", "-3"], "positive"],
    [["-enable-mining=maybe"], "true or false"],
    [["-mining-env", "=x"], "NAME=VALUE"],
    [["-ssh-ports", "3000-2000"], "FIRST-LAST"],
    [["-rental-egress-allow", "fd00::/8"], "IPv4"],
    [["-rental-egress-allow", "10.0.0.0/40"], "0 to 32"],
    [["-rental-disk-limit", "12X"], "size"],
    [["-rental-disk-limit", "10k"], "at least 1M"],
  ])("refuses %j with a message saying what is expected", async (argv, expected) => {
    await expect(parse(argv)).rejects.toThrow(expected);
  });

  it("lists every flag of the seed's table in --help", () => {
    const help = nodeDaemonProgram().helpInformation();
    for (const flag of ["hub", "hub-http", "host", "private-key", "private-key-file", "siwe-domain", "enable-mining", "mining-image", "mining-data-dir", "api-port", "cert-dir", "gpu-type", "memory-gb", "price-per-sec"]) {
      expect(help).toContain(`--${flag} `);
    }
  });
});
