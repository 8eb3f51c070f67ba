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
