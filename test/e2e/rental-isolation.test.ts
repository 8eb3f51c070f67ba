import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerodeEngine } from "../../internal/container/dockerode-engine.js";
import { requestJson } from "../../internal/httpclient/json-client.js";
import { firewallChains, rentalBridgeName, rentalNetworkFilter, rentalNetworkLabels, rentalNetworkName } from "../../internal/network/names.js";
import { removeNodeFirewall } from "../../internal/network/firewall.js";
import { type Command, type CommandResult, type RentalInfo, RentalState } from "../../internal/proto/gen/gpunode/v1/gpunode.js";
import { reserveFreePort } from "../../internal/util/net.js";
import { removeNodeLeftovers } from "../support/node-leftovers.js";
import { type SshKey, sshExec, sshForward, sshKeypair } from "../support/openssh.js";
import type { Program } from "../support/program.js";
import { signIn } from "../support/renter.js";
import { startDaemon, tempDir, writeKeyFile } from "../support/stack.js";
import { nodeOnline, startTestHub, type TestHub } from "../support/test-hub.js";

const run = promisify(execFile);
const sh = async (file: string, ...args: string[]): Promise<string> => (await run(file, args)).stdout;
const BUSYBOX = "gpunode-test/busybox:latest";
const METADATA = "169.254.169.254";
/** A TCP probe from inside a container: prints what the service answered, or fails. */
const probeCmd = (ip: string, port: number): string => `printf 'hello\\r\\n\\r\\n' | nc -w 3 ${ip} ${port}`;

/**
 * The hostile renter, on the real engine and this machine's real iptables (the daemon runs as
 * root here, as on a provider's machine). The test builds the world a rental could reach: a
 * network namespace standing in for the provider's LAN (private addresses, one of them
 * allow-listed) and for the cloud's metadata service at 169.254.169.254, a service on the host,
 * and a second rental. A control container on a network the daemon does not know reaches all of
 * them, so every refusal below is the rules' doing, not a missing route.
 */
describe("rental isolation: each rental on its own firewalled network", () => {
  const engine = new DockerodeEngine();
  const tag = randomBytes(3).toString("hex");
  const lanNet = `10.213.${100 + (parseInt(tag.slice(0, 2), 16) % 100)}`;
  const ns = `gpt-iso-${tag}`;
  const vethHost = `gpth${tag}`;
  const vethNs = `gptn${tag}`;
  const controlBridge = `gptc${tag}`;
  const controlName = `gpt-iso-control-${tag}`;
  const routeTable = String(20_000 + (parseInt(tag, 16) % 10_000));
  const idA = `iso-a-${tag}`;
  const idB = `iso-b-${tag}`;
  const cleanups: Array<() => Promise<unknown>> = [];
  const later = (fn: () => Promise<unknown>): void => void cleanups.push(fn);

  let t: TestHub;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let daemonArgs: string[];
  let daemon: Program;
  let nodeId: string;
  let asProvider: string;
  let key: SshKey;
  let hostService: Server;
  let hostPort: number;
  let hostAddress: string;
  let controlId: string;
  let a: RentalInfo;
  let b: RentalInfo;
  let ipA: string;
  let ipB: string;

  const command = async (body: Command["body"], timeoutMs = 60_000): Promise<CommandResult> => t.hub.channel.sendCommand(nodeId, body, { timeoutMs });
  const startRental = async (rentalId: string): Promise<RentalInfo> => {
    const r = await command({
      $case: "startRental",
      value: { rentalId, image: BUSYBOX, gpus: { count: 0, ids: [], model: "" }, cpuMillis: 0, memoryBytes: 128 * 1024 ** 2, shmBytes: 0, pidsLimit: 0, env: [], command: [], sshPublicKeys: [key.publicKey], sshPasswordHash: "", maxDurationSeconds: 0, runAsRoot: false },
    });
    if (r.outcome?.$case !== "rental") throw new Error(`start ${rentalId}: ${JSON.stringify(r.outcome)}`);
    return r.outcome.value;
  };
  /** As the renter: over SSH into the rental, like anyone who rented it. */
  const fromRental = async (r: RentalInfo, ip: string, port: number): Promise<{ ok: boolean; answer: string; why: string }> => {
    const ran = await sshExec(key, r.ssh!.port, "renter", probeCmd(ip, port));
    return { ok: ran.code === 0 && ran.stdout !== "", answer: ran.stdout.trim(), why: ran.stderr.trim() };
  };
  const fromControl = async (ip: string, port: number): Promise<string> => (await execIn(controlId, ["sh", "-c", probeCmd(ip, port)])).trim();
  /** The same probe through the engine, for while the daemon (and so its SSH gateway) is down. */
  const fromContainer = async (r: RentalInfo, ip: string, port: number): Promise<string> => (await execIn(r.containerId, ["sh", "-c", probeCmd(ip, port)])).trim();
  const execIn = async (id: string, cmd: string[]): Promise<string> => {
    const session = await engine.exec(id, { cmd, tty: false, stdin: false });
    let out = "";
    session.stdout.on("data", (d: Buffer) => (out += d.toString()));
    session.stderr.resume();
    await session.wait();
    return out;
  };
  const gatewayOf = async (r: RentalInfo): Promise<string> => {
    const route = (await sshExec(key, r.ssh!.port, "renter", "ip route")).stdout;
    const gw = /default via (\S+)/.exec(route)?.[1];
    if (!gw) throw new Error(`no default route in the rental: ${route}`);
    return gw;
  };
  const hooks = async (): Promise<{ forward: number; input: number }> => {
    const saved = (await sh("iptables-save", "-t", "filter")).split("\n");
    const { forward, input } = firewallChains(nodeId);
    return { forward: saved.filter((l) => l === `-A FORWARD -j ${forward}`).length, input: saved.filter((l) => l === `-A INPUT -j ${input}`).length };
  };
  /** Lets packets from `bridge` to 169.254.169.254 reach the stand-in; the host's own metadata route is untouched. */
  const routeMetadataFrom = async (bridge: string): Promise<void> => {
    await sh("ip", "rule", "add", "iif", bridge, "to", METADATA, "lookup", routeTable);
    later(() => sh("ip", "rule", "del", "iif", bridge, "to", METADATA, "lookup", routeTable));
  };
  const launchDaemon = async (): Promise<void> => {
    daemon = startDaemon(daemonArgs);
    // Rentals are adopted and the rules checked before the daemon serves its API.
    await daemon.waitFor((l) => typeof l.msg === "string" && l.msg.startsWith("node API on port"), "node API");
    await daemon.waitFor((l) => l.msg === "connected to the hub over mTLS", "the hub connection");
  };

  beforeAll(async () => {
    dir = await tempDir("isolation");
    later(() => dir.remove());

    // The provider's LAN and the cloud's metadata service, in a network namespace of their own.
    await sh("ip", "netns", "add", ns);
    later(() => sh("ip", "netns", "del", ns));
    await sh("ip", "link", "add", vethHost, "type", "veth", "peer", "name", vethNs);
    later(() => sh("ip", "link", "del", vethHost).catch(() => undefined)); // gone with the namespace, usually
    await sh("ip", "link", "set", vethNs, "netns", ns);
    await sh("ip", "addr", "add", `${lanNet}.1/29`, "dev", vethHost);
    await sh("ip", "link", "set", vethHost, "up");
    const inNs = (...args: string[]): Promise<string> => sh("ip", "netns", "exec", ns, ...args);
    for (const addr of [`${lanNet}.2/29`, `${lanNet}.3/29`, `${METADATA}/32`]) await inNs("ip", "addr", "add", addr, "dev", vethNs);
    await inNs("ip", "link", "set", vethNs, "up");
    await inNs("ip", "link", "set", "lo", "up");
    await inNs("ip", "route", "add", "default", "via", `${lanNet}.1`);
    await sh("ip", "route", "add", `${METADATA}/32`, "dev", vethHost, "table", routeTable);
    later(() => sh("ip", "route", "flush", "table", routeTable));
    const listener: ChildProcess = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", `require("net").createServer((c) => c.end("lan " + c.localAddress + "\\n")).listen(80, "0.0.0.0", () => console.log("ready"))`], { stdio: ["ignore", "pipe", "inherit"] });
    later(async () => {
      listener.kill();
      if (listener.exitCode === null) await once(listener, "exit");
    });
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: listener.stdout! }).on("line", (l) => l === "ready" && resolve());
      listener.once("exit", (code) => reject(new Error(`the LAN listener exited (${code})`)));
    });

    // A service on the host itself, on all of its addresses.
    const clients = new Set<Socket>();
    hostService = createServer((c) => {
      clients.add(c.once("close", () => clients.delete(c)));
      c.end("host\n");
    });
    hostService.listen(0, "0.0.0.0");
    await once(hostService, "listening");
    later(() => new Promise((r) => {
      hostService.close(r);
      for (const c of clients) c.destroy();
    }));
    hostPort = (hostService.address() as { port: number }).port;
    hostAddress = Object.entries(networkInterfaces()).flatMap(([name, addrs]) => (name.startsWith("gr") || name === "docker0" ? [] : (addrs ?? []).filter((x) => x.family === "IPv4" && !x.internal).map((x) => x.address)))[0] ?? "";
    expect(hostAddress).not.toBe("");

    // The control: a container on a network the daemon knows nothing of.
    const control = await engine.createNetwork({ name: controlName, labels: {}, options: { "com.docker.network.bridge.name": controlBridge } });
    later(() => engine.removeNetwork(control.id));
    await routeMetadataFrom(controlBridge);
    controlId = await engine.createAndStart({ name: controlName, image: BUSYBOX, labels: {}, gpuDeviceIds: [], nanoCpus: 1e9, memoryBytes: 64 * 1024 ** 2, pidsLimit: 64, entrypoint: ["sleep", "3600"], cmd: [], networkMode: controlName });
    later(() => engine.remove(controlId, { force: true }));

    t = await startTestHub({ heartbeatIntervalMs: 1_000 });
    later(() => t.close());
    key = await sshKeypair(dir.path, "renter");
    const provider = Wallet.createRandom();
    const portBase = 33_000 + Math.floor(Math.random() * 300) * 20;
    daemonArgs = [
      "-hub", t.grpcTarget, "-hub-http", t.http.baseUrl, "-hub-ca-fingerprint", t.hub.info.caFingerprint,
      "-host", "127.0.0.1", "-private-key-file", await writeKeyFile(dir.path, provider), "-cert-dir", join(dir.path, "certs"), "-state-dir", join(dir.path, "state"),
      "-api-port", "0", "-api-listen-host", "127.0.0.1", "-nvml-library", join(dir.path, "no-nvml.so"), "-enable-mining=false",
      "-ssh-ports", `${portBase}-${portBase + 19}`, "-ssh-listen-host", "127.0.0.1",
      "-rental-egress-allow", `${lanNet}.3`, "-rental-disk-limit", "1G",
    ];
    await launchDaemon();
    nodeId = (await daemon.waitFor((l) => l.created === true, "registration")).nodeId as string;
    later(() => removeNodeLeftovers(engine, nodeId));
    later(() => daemon.kill("SIGKILL"));
    await nodeOnline(t, nodeId);
    asProvider = await signIn(t.http, provider);

    [a, b] = await Promise.all([startRental(idA), startRental(idB)]);
    await routeMetadataFrom(rentalBridgeName(nodeId, idA));
    ipA = (await engine.inspect(a.containerId)).ipAddress;
    ipB = (await engine.inspect(b.containerId)).ipAddress;
    // Both serve on all their addresses (httpd listens, then goes to the background).
    for (const [r, name] of [[a, "a-here"], [b, "b-here"]] as const) {
      expect((await sshExec(key, r.ssh!.port, "renter", `mkdir -p /www && echo ${name} > /www/index.html && httpd -p 8000 -h /www`)).code).toBe(0);
    }
  }, 120_000);

  afterAll(async () => {
    // Each step bounded, so one that hangs cannot leave the namespace, routes or rules behind.
    for (const fn of cleanups.reverse()) {
      const bounded = new Promise((_, reject) => setTimeout(() => reject(new Error(`no end within 15 s: ${fn.toString().slice(0, 80)}`)), 15_000).unref());
      await Promise.race([fn(), bounded]).catch((err: unknown) => console.error("cleanup:", err));
    }
  }, 120_000);

  it("gives each rental a network of its own, labelled for adoption, on a bridge the node's rules match", async () => {
    const nets = await engine.listNetworks({ labels: rentalNetworkFilter(nodeId) });
    expect(nets.map((n) => n.name).sort()).toEqual([rentalNetworkName(idA), rentalNetworkName(idB)].sort());
    for (const [id, n] of [[idA, nets.find((x) => x.name === rentalNetworkName(idA))!], [idB, nets.find((x) => x.name === rentalNetworkName(idB))!]] as const) {
      expect(n.labels).toEqual(rentalNetworkLabels(nodeId, id));
      expect(n.options["com.docker.network.bridge.name"]).toBe(rentalBridgeName(nodeId, id));
    }
    expect(nets[0]!.subnets).not.toEqual(nets[1]!.subnets);
    expect(ipA).not.toBe("");
    expect(ipB).not.toBe("");
    const view = await requestJson<{ notices: string[] }>(t.http, "GET", `/v1/nodes/${nodeId}`, { bearer: asProvider });
    expect(view.notices.join("\n")).not.toContain("NOT isolated");
  });

  it("control: outside the rules, every target answers, and the host reaches rental B (what the SSH gateway needs)", async () => {
    expect(await fromControl(`${lanNet}.2`, 80)).toBe(`lan ${lanNet}.2`);
    expect(await fromControl(`${lanNet}.3`, 80)).toBe(`lan ${lanNet}.3`);
    expect(await fromControl(METADATA, 80)).toBe(`lan ${METADATA}`);
    expect(await fromControl(hostAddress, hostPort)).toBe("host");
    const controlGateway = /default via (\S+)/.exec(await execIn(controlId, ["ip", "route"]))?.[1] ?? "";
    expect(await fromControl(controlGateway, hostPort)).toBe("host");
    expect(await (await fetch(`http://${ipA}:8000/index.html`)).text()).toBe("a-here\n");
    expect(await (await fetch(`http://${ipB}:8000/index.html`)).text()).toBe("b-here\n");
  });

  it("rental A cannot reach rental B's service by IP, nor B rental A's", async () => {
    const aToB = await fromRental(a, ipB, 8000);
    expect(aToB.ok, aToB.answer).toBe(false);
    expect(aToB.why).toMatch(/can't connect|unreachable|refused|timed out/i);
    expect(await fromRental(b, ipA, 8000)).toMatchObject({ ok: false });
  });

  it("rental A cannot reach the host's services, on its gateway or the host's own address", async () => {
    expect(await fromRental(a, await gatewayOf(a), hostPort)).toMatchObject({ ok: false });
    expect(await fromRental(a, hostAddress, hostPort)).toMatchObject({ ok: false });
  });

  it("rental A cannot reach a private address on the LAN, nor the metadata address 169.254.169.254", async () => {
    expect(await fromRental(a, `${lanNet}.2`, 80)).toMatchObject({ ok: false });
    expect(await fromRental(a, METADATA, 80)).toMatchObject({ ok: false });
  });

  it("rental A reaches the allow-listed private address (-rental-egress-allow)", async () => {
    expect(await fromRental(a, `${lanNet}.3`, 80)).toMatchObject({ ok: true, answer: `lan ${lanNet}.3` });
  });

  it("still forwards `ssh -L` into the rental (the host reaches the rental's own address)", async () => {
    const local = await reserveFreePort("127.0.0.1");
    const fwd = await sshForward(key, a.ssh!.port, "renter", local, "localhost:8000", "true");
    const page = await fetch(`http://127.0.0.1:${local}/index.html`).then((r) => r.text(), (err: unknown) => String(err));
    await fwd.close();
    expect(page).toBe("a-here\n");
  });

  it("runs the rental without a disk limit where the storage driver cannot enforce one, and says so", async () => {
    const said = await daemon.waitFor((l) => typeof l.msg === "string" && l.msg.startsWith("-rental-disk-limit is not enforced"), "the disk limit notice");
    expect(said.msg).toMatch(/storage-opt|quota/i);
    expect(a.state).toBe(RentalState.RENTAL_STATE_RUNNING);
  });

  it("after a restart whose rules were wiped, the daemon adopts rental A, puts the rules back hooked once, and removes a stray network", async () => {
    await daemon.kill("SIGTERM");
    await removeNodeFirewall(nodeId); // a firewall reload, or a reboot of the rules while the daemon was down
    expect(await fromContainer(a, `${lanNet}.2`, 80)).toBe(`lan ${lanNet}.2`); // so the rules are what stopped it
    const stray = await engine.createNetwork({ name: rentalNetworkName(`gone-${tag}`), labels: rentalNetworkLabels(nodeId, `gone-${tag}`), options: { "com.docker.network.bridge.name": rentalBridgeName(nodeId, `gone-${tag}`) } });
    later(() => engine.removeNetwork(stray.id));

    await launchDaemon();
    expect(daemon.lines.filter((l) => l.msg === "adopted a running rental").map((l) => l.rentalId).sort()).toEqual([idA, idB].sort());
    expect(await hooks()).toEqual({ forward: 1, input: 1 });
    expect(await fromRental(a, `${lanNet}.2`, 80)).toMatchObject({ ok: false });
    expect(await fromRental(a, ipB, 8000)).toMatchObject({ ok: false });
    expect(await fromRental(a, `${lanNet}.3`, 80)).toMatchObject({ ok: true });
    expect((await engine.listNetworks({ labels: rentalNetworkFilter(nodeId) })).map((n) => n.name).sort()).toEqual([rentalNetworkName(idA), rentalNetworkName(idB)].sort());

    // Restarted again with nothing changed: still one hook each.
    await daemon.kill("SIGTERM");
    await launchDaemon();
    expect(await hooks()).toEqual({ forward: 1, input: 1 });
  });

  it("removes a finished batch job's network at once, keeping its container for the logs", async () => {
    const id = `iso-job-${tag}`;
    const ended = new Promise<void>((resolve) => t.hub.channel.events.on("rentalEvent", (_n, ev) => ev.rental?.rentalId === id && ev.rental.state === RentalState.RENTAL_STATE_EXITED && resolve()));
    const r = await command({
      $case: "startRental",
      value: { rentalId: id, image: BUSYBOX, gpus: { count: 0, ids: [], model: "" }, cpuMillis: 0, memoryBytes: 64 * 1024 ** 2, shmBytes: 0, pidsLimit: 0, env: [], command: ["sh", "-c", "ip route | grep -c default; echo job-done"], sshPublicKeys: [], sshPasswordHash: "", maxDurationSeconds: 0, runAsRoot: false },
    });
    expect(r.outcome?.$case).toBe("rental");
    await ended;
    expect((await engine.listNetworks({ labels: rentalNetworkFilter(nodeId) })).map((n) => n.name)).not.toContain(rentalNetworkName(id));
    const logs = await command({ $case: "getRentalLogs", value: { rentalId: id, tailLines: 10 } });
    expect(logs.outcome?.$case === "rentalLogs" && logs.outcome.value.text).toBe("1\njob-done\n"); // it ran on its own network
  });

  it("removes a rental's network, and its bridge, when the rental is stopped", async () => {
    const stopped = await command({ $case: "stopRental", value: { rentalId: idB, timeoutSeconds: 1 } });
    expect(stopped.outcome?.$case).toBe("rental");
    expect((await engine.listNetworks({ labels: rentalNetworkFilter(nodeId) })).map((n) => n.name)).toEqual([rentalNetworkName(idA)]);
    expect((await sh("ip", "-br", "link")).split("\n").some((l) => l.startsWith(rentalBridgeName(nodeId, idB)))).toBe(false);
  });
});
