import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerodeEngine } from "../container/dockerode-engine.js";
import { BLOCKED_IPV4, parseIpv4Cidr, upstreamNameServers } from "./egress.js";
import { ipv4Rules, RentalFirewall, removeNodeFirewall } from "./firewall.js";
import { firewallChains, nodeBridgePrefix, rentalBridgeName } from "./names.js";
import { NOT_ISOLATED, openRentalNetworks } from "./rental-networks.js";

const run = promisify(execFile);
const save = async (): Promise<string> => (await run("iptables-save", ["-t", "filter"])).stdout;
const lines = (text: string, match: string): string[] => text.split("\n").filter((l) => l.includes(match));

describe("egress ranges", () => {
  it.each([
    ["10.1.2.3/8", "10.0.0.0/8"],
    ["192.168.7.9", "192.168.7.9/32"],
    ["0.0.0.0/0", "0.0.0.0/0"],
    [" 172.20.0.0/16 ", "172.20.0.0/16"],
  ])("reads %j as %j", (text, want) => expect(parseIpv4Cidr(text)).toBe(want));

  it.each(["10.0.0.0/33", "fd00::/8", "10.0.0", "example.com", "10.0.0.0/8/1", ""])("refuses %j", (text) => {
    expect(() => parseIpv4Cidr(text)).toThrow(/IPv4|prefix/);
  });

  it("blocks private, CGNAT, loopback and link-local (metadata) ranges", () => {
    for (const r of ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16"]) expect(BLOCKED_IPV4).toContain(r);
  });

  it("takes the engine's upstream DNS servers from resolv.conf, leaving out loopback and IPv6", async () => {
    const dir = await mkdtemp(join(tmpdir(), "resolv-"));
    try {
      await writeFile(join(dir, "a"), "# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch example\n");
      await writeFile(join(dir, "b"), "nameserver 10.0.0.2\nnameserver fd00::1\n  nameserver 192.168.1.1\n");
      expect(await upstreamNameServers([join(dir, "a"), join(dir, "b"), join(dir, "missing")])).toEqual(["10.0.0.2", "192.168.1.1"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** The host's real iptables (this test runs as root, like the daemon). */
describe("RentalFirewall on this machine's iptables", () => {
  const nodeId = `fw-test-${randomUUID()}`;
  const { forward, input, reject } = firewallChains(nodeId);
  let fw: RentalFirewall;

  beforeAll(async () => {
    fw = await RentalFirewall.open({ nodeId, allow: ["10.9.0.0/16"], dnsServers: ["10.255.0.53"] });
  });
  afterAll(async () => {
    await removeNodeFirewall(nodeId);
  });

  it("hooks its chains once however often it is ensured, with the rules iptables reads back", async () => {
    await Promise.all([fw.ensure(), fw.ensure()]);
    await fw.ensure();
    const s = await save();
    expect(lines(s, `-j ${forward}`).filter((l) => l.startsWith("-A FORWARD"))).toEqual([`-A FORWARD -j ${forward}`]);
    expect(lines(s, `-j ${input}`).filter((l) => l.startsWith("-A INPUT"))).toEqual([`-A INPUT -j ${input}`]);
    expect(await fw.hooked()).toEqual({ forward: 1, input: 1 });
    // Every rule we wrote is there, once.
    const body = [forward, input, reject].flatMap((c) => lines(s, `-A ${c} `));
    expect(body).toHaveLength(ipv4Rules({ nodeId, allow: ["10.9.0.0/16"], dnsServers: ["10.255.0.53"] }).lines.length);
    const mine = `-i ${nodeBridgePrefix(nodeId)}+`;
    expect(s).toContain(`-A ${forward} -d 169.254.0.0/16 ${mine} -j ${reject}`);
    expect(s).toContain(`-A ${reject} -p tcp -j REJECT --reject-with tcp-reset`);
    expect(s).toContain(`-A ${forward} -d 10.9.0.0/16 ${mine} -j RETURN`);
    expect(s).toContain(`-A ${forward} -d 10.255.0.53/32 ${mine} -p udp -m udp --dport 53 -j RETURN`);
    expect(s).toContain(`-A ${input} ${mine} -j ${reject}`);
    // The allow-list comes before the block it opens.
    expect(s.indexOf(`-d 10.9.0.0/16 ${mine}`)).toBeLessThan(s.indexOf(`-d 10.0.0.0/8 ${mine}`));
    expect(rentalBridgeName(nodeId, "r1")).toMatch(new RegExp(`^${nodeBridgePrefix(nodeId)}[0-9a-f]{8}$`));
    expect(rentalBridgeName(nodeId, "r1")).toHaveLength(15);
  });

  it("puts back rules and hooks someone flushed or deleted", async () => {
    await run("iptables", ["-w", "-F", forward]);
    await run("iptables", ["-w", "-D", "INPUT", "-j", input]);
    expect(await fw.hooked()).toEqual({ forward: 1, input: 0 });
    await fw.ensure();
    expect(await fw.hooked()).toEqual({ forward: 1, input: 1 });
    expect(lines(await save(), `-A ${forward} `).length).toBeGreaterThan(10);
  });

  it("removes its chains and hooks, and removing again is fine", async () => {
    await fw.remove();
    await removeNodeFirewall(nodeId);
    const s = await save();
    for (const c of [forward, input, reject]) expect(s).not.toContain(c);
  });
});

describe("the rules as a non-root service with CAP_NET_ADMIN only (systemd/node-daemon.service)", () => {
  it("opens, ensures and removes them as user nobody, whose PATH lacks /usr/sbin", async () => {
    const dist = new URL("../../dist/internal/network/firewall.js", import.meta.url).href;
    const nodeId = `cap-${randomUUID()}`;
    const script = `const f = await import(${JSON.stringify(dist)}); const fw = await f.RentalFirewall.open({ nodeId: ${JSON.stringify(nodeId)}, allow: [], dnsServers: [] }); await fw.ensure(); console.log(JSON.stringify(await fw.hooked())); await fw.remove(); console.log(process.getuid());`;
    try {
      const { stdout } = await run("setpriv", ["--reuid", "65534", "--regid", "65534", "--clear-groups", "--inh-caps", "+net_admin", "--ambient-caps", "+net_admin", "env", "PATH=/usr/bin:/bin", process.execPath, "--input-type=module", "-e", script]);
      expect(stdout.trim().split("\n")).toEqual(['{"forward":1,"input":1}', "65534"]);
    } finally {
      await removeNodeFirewall(nodeId);
    }
  });
});

describe("openRentalNetworks where the firewall cannot be managed", () => {
  const engine = new DockerodeEngine();
  const logger = pino({ level: "silent" });
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "no-root-"));
    // The real iptables-save, run as nobody: what a daemon without root or CAP_NET_ADMIN meets.
    for (const tool of ["iptables-save", "ip6tables-save"]) {
      const file = join(dir, tool);
      await writeFile(file, `#!/bin/sh\nexec setpriv --reuid 65534 --regid 65534 --clear-groups /usr/sbin/${tool} "$@"\n`);
      await chmod(file, 0o755);
    }
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("runs rentals on the shared bridge and says, in iptables' words, that they are not isolated", async () => {
    const nets = await openRentalNetworks({ nodeId: `nr-${randomUUID()}`, isolation: true, egressAllow: [], toolPath: dir }, { engine, logger });
    expect(nets.notice).toContain(NOT_ISOLATED);
    expect(nets.notice).toMatch(/Permission denied|must be root/);
    expect(await nets.prepare("r1")).toBe("bridge");
  });

  it("says so too when isolation is turned off", async () => {
    const nets = await openRentalNetworks({ nodeId: `nr-${randomUUID()}`, isolation: false, egressAllow: [] }, { engine, logger });
    expect(nets.notice).toMatch(/NOT isolated.*-rental-isolation=false/);
  });
});
