// node-daemon -hub auto finds a hub started with -announce over real multicast DNS: the daemon runs in
// a network namespace of its own, joined to the hubs by a veth pair, so it sees only this test's hubs.
// One hub: found and pinned (and said so). Two hubs and no pin: refused, both listed. A pin: that hub.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DAEMON_SCRIPT, DIST, Program } from "../support/program.js";
import { vethNamespace, type VethNamespace } from "../support/netns.js";
import { type HubProcess, startHub, tempDir, writeKeyFile } from "../support/stack.js";


describe("finding the hub on the LAN (-announce, -hub auto)", () => {
  const tag = `d${(process.pid % 10_000).toString(36)}`;
  const ns = `gpn-${tag}`;
  const hostIf = `gph${tag}`;
  const nsIf = `gpn${tag}`;
  const subnet = 150 + (process.pid % 50);
  const hubAddr = `10.234.${subnet}.1`;
  const nodeAddr = `10.234.${subnet}.2`;
  const programs: Program[] = [];
  let net: VethNamespace | undefined;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let first: HubProcess;

  const hub = async (name: string): Promise<HubProcess> => {
    const h = await startHub(join(dir.path, name), { args: ["--grpc-listen", `${hubAddr}:0`, "--http-listen", `${hubAddr}:0`, "--public-host", hubAddr, "--announce"] });
    programs.push(h.program);
    return h;
  };
  const daemon = async (name: string, extra: string[] = []): Promise<Program> => {
    const p = new Program(
      "node-daemon",
      DAEMON_SCRIPT,
      [
        "-hub", "auto", "-host", nodeAddr, "-private-key-file", await writeKeyFile(dir.path, Wallet.createRandom()),
        "-cert-dir", join(dir.path, name, "certs"), "-state-dir", join(dir.path, name, "state"), "-api-port", "0", "-api-listen-host", nodeAddr,
        "-docker-socket", join(dir.path, "no-docker.sock"), ...extra,
      ],
      { NODE_DAEMON_NVML_LIBRARY: "/nonexistent/libnvidia-ml.so.1", NODE_DAEMON_METRICS_LISTEN: "", PATH: "/usr/bin:/bin:/usr/sbin:/sbin" },
      ["ip", "netns", "exec", ns],
    );
    programs.push(p);
    return p;
  };

  beforeAll(async () => {
    net = await vethNamespace({ ns, hostIf, nsIf, hostAddr: hubAddr, nsAddr: nodeAddr });
    dir = await tempDir("discovery");
    first = await hub("hub-a");
  });
  afterAll(async () => {
    await Promise.all(programs.map((p) => p.kill("SIGKILL")));
    await dir?.remove();
    await net?.remove();
  });

  it("finds the only hub, pins the CA it announced (and says so), and joins it", async () => {
    const d = await daemon("node-1");
    const found = await d.waitFor((l) => typeof l.msg === "string" && l.msg.startsWith("found the hub"), "the hub found on the LAN");
    expect(found).toMatchObject({ address: hubAddr, grpcPort: first.grpcPort, caFingerprint: first.caFingerprint });
    const pinned = await d.waitFor((l) => typeof l.msg === "string" && l.msg.includes("pinned the CA the hub on the LAN announced"), "the warning that it pinned what it found");
    expect(pinned.msg).toContain(first.caFingerprint);
    await d.waitFor((l) => l.created === true, "registration with the hub it found");
    await d.kill("SIGTERM");
  });

  it("refuses to choose between two hubs without a pin, listing both; with a pin, joins that one", async () => {
    const second = await hub("hub-b");
    const unsure = await daemon("node-2");
    const { code } = await unsure.exited;
    expect(code).not.toBe(0);
    expect(unsure.output).toMatch(/2 hubs announced themselves on the LAN; name one with -hub-ca-fingerprint/);
    for (const h of [first, second]) expect(unsure.output).toContain(h.caFingerprint);

    const pinned = await daemon("node-3", ["-hub-ca-fingerprint", second.caFingerprint]);
    expect(await pinned.waitFor((l) => typeof l.msg === "string" && l.msg.startsWith("found the hub"), "the pinned hub")).toMatchObject({ grpcPort: second.grpcPort });
    await pinned.waitFor((l) => l.created === true, "registration with the pinned hub");
  });

  it("lets a renter log in with gpu-rent --hub-http auto", async () => {
    const key = await writeKeyFile(dir.path, Wallet.createRandom());
    const cli = spawn("ip", ["netns", "exec", ns, process.execPath, `${DIST}cmd/gpu-rent/main.js`, "login", "--hub-http", "auto", "--hub-ca-fingerprint", first.caFingerprint, "--key-file", key, "--json"], {
      env: { ...process.env, GPU_RENT_CONFIG_DIR: join(dir.path, "renter") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    cli.stdout.on("data", (d: Buffer) => (out += d.toString()));
    cli.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const [code] = (await once(cli, "exit")) as [number | null];
    expect(code, err).toBe(0);
    expect(err).toContain("found the hub");
    const login = JSON.parse(out) as { hub: string; caFingerprint: string };
    expect(login).toMatchObject({ hub: `https://${hubAddr}:${first.httpPort}`, caFingerprint: first.caFingerprint });
  });
});
