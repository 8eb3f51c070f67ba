import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Program } from "../support/program.js";
import { daemonArgs, getJson, type HubProcess, signInToHub, startDaemon, startHub, tempDir, writeKeyFile } from "../support/stack.js";

interface NodeDetail {
  id: string;
  wallet: string;
  status: string;
  lastHeartbeat: { seq: number } | null;
  certificate: { serial: string };
  certificates: { serial: string; reason: string }[];
  notices: string[];
}

const CONNECTED = "connected to the hub over mTLS";
/** Preloaded into the first daemon: lists the modules it has loaded on SIGUSR2. */
const LIST_MODULES = { NODE_OPTIONS: `--import ${fileURLToPath(new URL("../fixtures/node/loaded-modules.mjs", import.meta.url))}` };

describe("hub and daemon as real processes on loopback", () => {
  const wallet = Wallet.createRandom();
  const programs: Program[] = [];
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let hub: HubProcess;
  let daemon: Program;
  let keyFile: string;
  let nodeId: string;
  let args: string[];

  // The provider's view (certificates, notices); a session lasts as long as the hub process.
  const sessions = new Map<HubProcess, string>();
  const node = async () => {
    const token = sessions.get(hub) ?? (await signInToHub(hub, wallet));
    sessions.set(hub, token);
    return getJson<NodeDetail>(`${hub.httpUrl}/v1/nodes/${nodeId}`, token);
  };
  const track = (p: Program): Program => (programs.push(p), p);

  beforeAll(async () => {
    dir = await tempDir("e2e");
    hub = await startHub(join(dir.path, "hub"), { args: ["--heartbeat-interval", "1s"] });
    programs.push(hub.program);
    keyFile = await writeKeyFile(dir.path, wallet);
    // No Docker engine for this daemon: the channel must not depend on one.
    args = daemonArgs(hub, keyFile, join(dir.path, "certs"), ["-docker-socket", join(dir.path, "no-docker.sock")]);
  });

  afterAll(async () => {
    await Promise.all(programs.map((p) => p.kill("SIGKILL")));
    await dir.remove();
  });

  it("signs in, gets a certificate and stays online with a rising heartbeat sequence", async () => {
    daemon = track(startDaemon(args, LIST_MODULES));
    const registered = await daemon.waitFor((l) => l.created === true, "registration");
    nodeId = registered.nodeId as string;
    await daemon.waitFor((l) => l.seq === 2, "second heartbeat");
    const first = await node();
    expect(first.status).toBe("online");
    expect(first.wallet).toBe(wallet.address);
    expect(first.certificates.map((c) => c.reason)).toEqual(["bootstrap"]);
    expect(first.notices.join("\n")).toContain("Docker engine not reachable");

    const before = first.lastHeartbeat?.seq ?? 0;
    await daemon.waitFor((l) => l.seq === before + 2, "two more heartbeats");
    const later = await node();
    expect(later.lastHeartbeat?.seq ?? 0).toBeGreaterThan(before);
  });

  it("signed in and made its CSR in helper processes: the daemon itself never loaded siwe, ethers or @peculiar/x509, which would stay in its memory", async () => {
    const report = daemon.waitForNext((l) => l.msg === "loaded modules", "the list of loaded modules");
    daemon.proc.kill("SIGUSR2");
    const modules = (await report).modules as string[];
    expect(modules.some((m) => m.endsWith("/dist/internal/daemon/node-daemon.js"))).toBe(true);
    expect(modules.filter((m) => /\/node_modules\/(siwe|ethers|@spruceid|@peculiar|reflect-metadata|tsyringe)\//.test(m))).toEqual([]);
  });

  it("is back within 5 s on its existing certificate after the hub is SIGKILLed and restarted", async () => {
    const serial = (await node()).certificate.serial;
    const lost = daemon.waitForNext((l) => l.msg === "lost the hub; reconnecting", "notice of the lost hub");
    await hub.program.kill("SIGKILL");
    await lost;
    const reconnected = daemon.waitForNext((l) => l.msg === CONNECTED, "reconnection", 30_000);
    hub = await startHub(join(dir.path, "hub"), { grpcPort: hub.grpcPort, httpPort: hub.httpPort, args: ["--heartbeat-interval", "1s"] });
    programs.push(hub.program);
    const ready = await hub.program.waitFor((l) => l.event === "ready", "ready");
    const back = await reconnected;
    expect((back.time as number) - (ready.time as number)).toBeLessThanOrEqual(5_000);

    await hub.program.waitFor((l) => l.msg === "node online" && l.nodeId === nodeId, "node online again");
    const after = await node();
    expect(after.status).toBe("online");
    expect(after.certificate.serial).toBe(serial);
    expect(after.certificates).toHaveLength(1);
    expect(daemon.lines.filter((l) => l.msg.startsWith("signed in as"))).toHaveLength(1);
  });

  it("keeps its node id and registers nothing new when the daemon restarts", async () => {
    const { code } = await daemon.kill("SIGTERM");
    expect(code).toBe(0);
    daemon = track(startDaemon(args));
    await daemon.waitFor((l) => l.msg === CONNECTED, "connection");
    expect(daemon.lines.some((l) => l.msg.startsWith("signed in as"))).toBe(false);
    expect(daemon.lines.some((l) => l.nodeId === nodeId)).toBe(true);
    const after = await node();
    expect(after.certificates).toHaveLength(1);
    const all = await getJson<{ nodes: { id: string }[] }>(`${hub.httpUrl}/v1/nodes`);
    expect(all.nodes.map((n) => n.id)).toEqual([nodeId]);
  });

  it("refuses a key file that others can read, and says which chmod to run", async () => {
    const other = Wallet.createRandom();
    const loose = await writeKeyFile(dir.path, other, 0o644);
    const p = track(startDaemon(daemonArgs(hub, loose, join(dir.path, "certs-loose"))));
    const { code } = await p.exited;
    expect(code).toBe(1);
    expect(p.output).toContain(`chmod 600 ${loose}`);
    expect(p.output).not.toContain(other.privateKey.slice(2));
  });

  it("never writes a private key to any log", () => {
    const everything = programs.map((p) => p.output).join("\n");
    expect(everything).toContain(wallet.address);
    expect(everything.toLowerCase()).not.toContain(wallet.privateKey.slice(2).toLowerCase());
    expect(everything).not.toContain("PRIVATE KEY-----");
  });
});
