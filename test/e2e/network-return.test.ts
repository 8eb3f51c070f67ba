import { join } from "node:path";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DAEMON_SCRIPT, Program } from "../support/program.js";
import { sh, vethNamespace, type VethNamespace } from "../support/netns.js";
import { tempDir, writeKeyFile } from "../support/stack.js";
import { nodeOnline, startTestHub, type TestHub } from "../support/test-hub.js";


/**
 * A node behind a network that goes dark: the daemon runs in a network namespace of its own, joined
 * to the host by a veth pair; iptables in that namespace drops everything to the hub, then lets it
 * through again. The node must be online again within 5 s of the network's return.
 */
describe("a node whose network goes dark and comes back", () => {
  const tag = (process.pid % 10_000).toString(36);
  const ns = `gpn-ret-${tag}`;
  const hostIf = `gpnh${tag}`;
  const nsIf = `gpnn${tag}`;
  const subnet = 200 + (process.pid % 50);
  const hubAddr = `10.233.${subnet}.1`;
  const nodeAddr = `10.233.${subnet}.2`;
  const inNs = (...args: string[]) => sh("ip", "netns", "exec", ns, ...args);
  let t: TestHub;
  let net: VethNamespace | undefined;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let daemon: Program;
  let nodeId: string;

  beforeAll(async () => {
    net = await vethNamespace({ ns, hostIf, nsIf, hostAddr: hubAddr, nsAddr: nodeAddr });
    dir = await tempDir("net-return");
    t = await startTestHub({ heartbeatIntervalMs: 1_000, grpcListen: { host: hubAddr, port: 0 }, httpListen: { host: hubAddr, port: 0 }, publicHosts: [hubAddr] });
    daemon = new Program(
      "node-daemon",
      DAEMON_SCRIPT,
      [
        "-hub", `${hubAddr}:${t.hub.info.grpcPort}`, "-hub-http", t.http.baseUrl, "-hub-ca-fingerprint", t.hub.info.caFingerprint, "-host", nodeAddr,
        "-private-key-file", await writeKeyFile(dir.path, Wallet.createRandom()), "-state-dir", join(dir.path, "state"), "-api-port", "0", "-api-listen-host", nodeAddr,
        "-docker-socket", join(dir.path, "no-docker.sock"),
      ],
      { NODE_DAEMON_NVML_LIBRARY: "/nonexistent/libnvidia-ml.so.1", NODE_DAEMON_METRICS_LISTEN: "", NODE_DAEMON_LOG_LEVEL: "debug", PATH: "/usr/bin:/bin:/usr/sbin:/sbin" },
      ["ip", "netns", "exec", ns],
    );
    nodeId = (await daemon.waitFor((l) => l.created === true, "registration")).nodeId as string;
    await nodeOnline(t, nodeId);
  });

  afterAll(async () => {
    await daemon?.kill("SIGKILL");
    await t?.close();
    await dir?.remove();
    await net?.remove();
  });

  it("is online again within 5 s of the network's return, after an outage long enough to have given up the stream", async () => {
    const offline = new Promise<void>((resolve) => t.hub.presence.on("change", (id, status) => id === nodeId && status === "offline" && resolve()));
    await inNs("iptables", "-I", "OUTPUT", "-d", hubAddr, "-j", "DROP");
    await inNs("iptables", "-I", "INPUT", "-s", hubAddr, "-j", "DROP");
    const darkAt = Date.now();
    try {
      await offline;
      // The daemon notices (keepalive), then dials into the dark a few times.
      await daemon.waitFor((l) => l.msg === "lost the hub; reconnecting" && Date.now() > darkAt, "the daemon noticing the lost stream", 60_000);
      await daemon.waitForNext((l) => l.msg === "lost the hub; reconnecting" && String(l.reason).startsWith("no TCP answer"), "a dial into the dark", 20_000);
      await daemon.waitForNext((l) => l.msg === "lost the hub; reconnecting" && String(l.reason).startsWith("no TCP answer"), "another dial into the dark", 20_000);
    } finally {
      await inNs("iptables", "-F", "OUTPUT");
      await inNs("iptables", "-F", "INPUT");
    }
    const backAt = Date.now();
    await nodeOnline(t, nodeId);
    const seconds = (Date.now() - backAt) / 1000;
    console.log(`network dark for ${((backAt - darkAt) / 1000).toFixed(1)} s; node online again ${seconds.toFixed(1)} s after it returned`);
    expect(seconds).toBeLessThan(5);
  }, 150_000);
});
