// Runs against the real engine: `bash test/setup/docker-engine.sh` first. No engine is a failure,
// not a skip (CI installs one). GPUs come from the stand-in hook, so no real GPU is needed.
import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ContainerSpec } from "./container-spec.js";
import { DockerodeEngine } from "./dockerode-engine.js";
import type { ContainerEvent, ExecSession } from "./engine.js";
import { ContainerError } from "./errors.js";
import { LABELS, parseWorkloadLabels, workloadLabels } from "./labels.js";

const IMAGE = "gpunode-test/busybox:latest";
const RUN_LABEL = "io.gpunode.test-run";
const runId = randomUUID().slice(0, 8);
const engine = new DockerodeEngine();

function spec(suffix: string, over: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    name: `gpunode-test-${runId}-${suffix}`,
    image: IMAGE,
    labels: { [RUN_LABEL]: runId },
    gpuDeviceIds: [],
    nanoCpus: 1_000_000_000,
    memoryBytes: 128 * 1024 * 1024,
    pidsLimit: 128,
    cmd: ["sleep", "3600"],
    ...over,
  };
}

function collect(stream: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = "";
    stream.setEncoding("utf8");
    stream.on("data", (d: string) => (out += d));
    stream.on("end", () => resolve(out));
    stream.on("error", reject);
  });
}

async function run(s: ExecSession): Promise<{ stdout: string; stderr: string; code: number }> {
  const [stdout, stderr] = await Promise.all([collect(s.stdout), collect(s.stderr)]);
  return { stdout, stderr, code: await s.wait(AbortSignal.timeout(10_000)) };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => expect.fail("expected a rejection"),
    (err: unknown) => err,
  );
}

beforeAll(async () => {
  // Fails the file (never skips) when nothing answers.
  await engine.ping(AbortSignal.timeout(5_000)).catch((err: unknown) => {
    throw new Error(`no Docker engine answers: run \`bash test/setup/docker-engine.sh\` first (${String(err)})`, { cause: err });
  });
  expect(await engine.imageExists(IMAGE)).toBe(true);
});

afterAll(async () => {
  const mine = await engine.list({ labels: { [RUN_LABEL]: runId } });
  await Promise.all(mine.map((c) => engine.remove(c.id, { force: true })));
  const nets = await engine.listNetworks({ labels: { [RUN_LABEL]: runId } });
  await Promise.all(nets.map((n) => engine.removeNetwork(n.id)));
});

describe("DockerodeEngine against the real engine", () => {
  let rentalId = "";

  beforeAll(async () => {
    const labels = { ...workloadLabels({ kind: "rental", rentalId: `r-${runId}`, nodeId: "node-test", gpuIds: ["0", "2"] }), [RUN_LABEL]: runId };
    rentalId = await engine.createAndStart(spec("rental", { labels, gpuDeviceIds: ["0", "2"] }));
  });

  it("reports its version", async () => {
    const v = await engine.version();
    expect(v.version).not.toBe("");
    expect(v.os).toBe("linux");
  });

  it("starts a labelled container with GPUs 0 and 2 and hardening in place", async () => {
    const state = await engine.inspect(rentalId);
    expect(state.running).toBe(true);
    expect(state.gpuDeviceIds).toEqual(["0", "2"]);
    expect(parseWorkloadLabels(state.labels)).toEqual({ kind: "rental", rentalId: `r-${runId}`, nodeId: "node-test", gpuIds: ["0", "2"] });
    expect(state.startedAt).toBeInstanceOf(Date);

    const env = await run(await engine.exec(rentalId, { cmd: ["env"], tty: false, stdin: false }));
    expect(env.stdout.split("\n")).toContain("NVIDIA_VISIBLE_DEVICES=0,2");
    const status = await run(await engine.exec(rentalId, { cmd: ["cat", "/proc/self/status"], tty: false, stdin: false }));
    expect(status.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    // Nine capabilities kept: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID NET_BIND_SERVICE AUDIT_WRITE.
    expect(status.stdout).toMatch(/^CapEff:\s+00000000200004fb$/m);
  });

  it("lists containers by label", async () => {
    const mine = await engine.list({ labels: { [RUN_LABEL]: runId, [LABELS.kind]: "rental" } });
    expect(mine.map((c) => c.id)).toContain(rentalId);
    expect(mine.find((c) => c.id === rentalId)?.labels[LABELS.rentalId]).toBe(`r-${runId}`);
    const other = await engine.list({ labels: { [RUN_LABEL]: runId, [LABELS.rentalId]: "someone-else" } });
    expect(other).toEqual([]);
  });

  it("execs with stdin, separate stderr and the exit code", async () => {
    const s = await engine.exec(rentalId, { cmd: ["sh", "-c", "cat; echo oops >&2; exit 7"], tty: false, stdin: true, env: { X: "1" } });
    s.stdin?.end("hello\nworld\n");
    expect(await run(s)).toEqual({ stdout: "hello\nworld\n", stderr: "oops\n", code: 7 });
  });

  it("execs as another user", async () => {
    const r = await run(await engine.exec(rentalId, { cmd: ["id", "-u"], tty: false, stdin: false, user: "renter" }));
    expect(r.stdout.trim()).toBe("1000");
  });

  it("execs with a TTY and resizes it", async () => {
    const s = await engine.exec(rentalId, { cmd: ["sh"], tty: true, stdin: true });
    await s.resize(123, 45);
    const out = collect(s.stdout);
    s.stdin?.write("stty size; exit 5\n");
    expect(await out).toContain("45 123");
    expect(await s.wait()).toBe(5);
  });

  it("does not detach a TTY exec on ctrl-p ctrl-q (the engine's default detach keys)", async () => {
    const s = await engine.exec(rentalId, { cmd: ["sh", "-c", "read x; echo alive"], tty: true, stdin: true });
    const out = collect(s.stdout);
    s.stdin?.write("\x10\x11abc\n");
    expect(await out).toContain("alive");
    expect(await s.wait()).toBe(0);
  });

  it("ends an exec session when its signal aborts", async () => {
    const ac = new AbortController();
    const s = await engine.exec(rentalId, { cmd: ["sleep", "60"], tty: false, stdin: true, signal: ac.signal });
    ac.abort(new Error("client went away"));
    await expect(s.wait()).rejects.toThrow("client went away");
  });

  it("reads the last lines of the logs", async () => {
    const id = await engine.createAndStart(
      // The pause keeps the engine from storing "err" ahead of stdout lines (it copies each stream apart).
      spec("logs", { cmd: ["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done; sleep 0.3; echo err >&2; sleep 3600"] }),
    );
    let logs = "";
    for (let i = 0; i < 50 && !logs.includes("err"); i++) {
      logs = await engine.logs(id, { tail: 2 });
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(logs).toBe("line5\nerr\n");
  });

  it("waits for a container that exits with code 3", async () => {
    const id = await engine.createAndStart(spec("exit3", { cmd: ["sh", "-c", "sleep 0.2; exit 3"] }));
    expect(await engine.wait(id, AbortSignal.timeout(10_000))).toEqual({ exitCode: 3, oomKilled: false });
    const state = await engine.inspect(id);
    expect(state).toMatchObject({ running: false, exitCode: 3, oomKilled: false, status: "exited" });
    expect(state.finishedAt).toBeInstanceOf(Date);
  });

  it("gives up waiting when the signal aborts", async () => {
    const err = await rejection(engine.wait(rentalId, AbortSignal.timeout(200)));
    expect((err as Error).name).toBe("TimeoutError");
  });

  it("reports an OOM kill", async () => {
    // tail -c keeps 100 MiB in memory; the limit is 16 MiB with no swap.
    const id = await engine.createAndStart(
      spec("oom", { memoryBytes: 16 * 1024 * 1024, cmd: ["sh", "-c", "head -c 200m /dev/zero | tail -c 100m >/dev/null"] }),
    );
    const exit = await engine.wait(id, AbortSignal.timeout(30_000));
    // What the daemon reports. (The engine's own State.OOMKilled may be set after the exit, or not at
    // all on some cgroup setups: wait() falls back to the container's "oom" event, so it is not asked here.)
    expect(exit).toEqual({ exitCode: 137, oomKilled: true });
  });

  it("streams a die event for a container we stop, with its labels", async () => {
    const ac = new AbortController();
    try {
      const events = await engine.events(ac.signal);
      const id = await engine.createAndStart(spec("events"));
      await engine.stop(id, 1);
      const seen: ContainerEvent[] = [];
      for await (const e of events) {
        if (e.id !== id) continue;
        seen.push(e);
        if (e.type === "die") break;
      }
      expect(seen.map((e) => e.type)).toEqual(["start", "die"]);
      const die = seen[1];
      expect(die?.labels[RUN_LABEL]).toBe(runId);
      expect(die?.name).toBe(`gpunode-test-${runId}-events`);
      // busybox sleep as PID 1 ignores SIGTERM: the engine kills it after the 1 s timeout.
      expect(die?.exitCode).toBe(137);
    } finally {
      ac.abort();
    }
  });

  it("ends the event iterable cleanly on abort", async () => {
    const ac = new AbortController();
    const events = await engine.events(ac.signal);
    setTimeout(() => ac.abort(), 100);
    const seen: ContainerEvent[] = [];
    for await (const e of events) seen.push(e);
    expect(ac.signal.aborted).toBe(true);
  });

  it("fails fast and clearly pulling an image that cannot be had", async () => {
    const started = Date.now();
    const err = await rejection(engine.pullImage("gpunode-test/does-not-exist:nope", { stallTimeoutMs: 20_000 }));
    expect(err).toBeInstanceOf(ContainerError);
    // No registry here: "pull_failed" with the engine's DNS error; with a registry it is a 404.
    expect(["pull_failed", "image_not_found"]).toContain((err as ContainerError).code);
    expect((err as ContainerError).message).toContain("pull gpunode-test/does-not-exist:nope: ");
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(await engine.imageExists("gpunode-test/does-not-exist:nope")).toBe(false);
  });

  it("refuses to create from an image that is not local", async () => {
    const err = await rejection(engine.createAndStart(spec("noimage", { image: "gpunode-test/absent:1" })));
    expect((err as ContainerError).code).toBe("image_not_found");
  });

  it("refuses a spec that mounts the engine socket, before calling the engine", async () => {
    const err = await rejection(
      engine.createAndStart(spec("sock", { mounts: [{ type: "bind", source: "/var/run/docker.sock", target: "/sock", readOnly: true }] })),
    );
    expect((err as ContainerError).code).toBe("invalid_spec");
  });

  it("removes a container that fails to start, freeing its name", async () => {
    const s = spec("nostart", { cmd: ["/no/such/binary"] });
    const err = await rejection(engine.createAndStart(s));
    expect((err as ContainerError).code).toBe("start_failed");
    expect((err as ContainerError).message).toMatch(/no such file/i);
    expect((await engine.list({ labels: { [RUN_LABEL]: runId } })).map((c) => c.name)).not.toContain(s.name);
  });

  it("stops and removes, both idempotent", async () => {
    const id = await engine.createAndStart(spec("stop"));
    await engine.stop(id, 1);
    expect((await engine.inspect(id)).running).toBe(false);
    await engine.stop(id, 1);
    await engine.remove(id);
    const err = await rejection(engine.inspect(id));
    expect((err as ContainerError).code).toBe("not_found");
    await engine.remove(id);
  });

  it("refuses a writable-layer limit the storage driver cannot enforce, with the engine's words (storage_unsupported)", async () => {
    // This engine runs overlay2 on ext4: no project quotas. On xfs with pquota the limit would hold.
    const s = spec("disk", { storageSizeBytes: 1024 ** 3 });
    const err = await rejection(engine.createAndStart(s));
    expect((err as ContainerError).code).toBe("storage_unsupported");
    expect((err as ContainerError).message).toMatch(/storage-opt/);
    expect((await engine.list({ labels: { [RUN_LABEL]: runId } })).map((c) => c.name)).not.toContain(s.name);
  });
});

describe("DockerodeEngine networks against the real engine", () => {
  const name = `gpunode-test-${runId}-net`;
  const bridge = `gpt${runId}`;

  it("creates a labelled bridge network with our bridge name, lists it by label, and refuses the name twice", async () => {
    const created = await engine.createNetwork({ name, labels: { [RUN_LABEL]: runId }, options: { "com.docker.network.bridge.name": bridge } });
    expect(created).toMatchObject({ name, driver: "bridge", labels: { [RUN_LABEL]: runId } });
    expect(created.options["com.docker.network.bridge.name"]).toBe(bridge);
    expect(created.subnets[0]).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
    expect((await engine.listNetworks({ labels: { [RUN_LABEL]: runId } })).map((n) => n.id)).toEqual([created.id]);
    expect((await engine.inspectNetwork(name)).id).toBe(created.id);
    const again = await rejection(engine.createNetwork({ name, labels: {}, options: {} }));
    expect((again as ContainerError).code).toBe("conflict");
  });

  it("attaches a container to it by name; refuses to remove the network while the container is on it", async () => {
    const id = await engine.createAndStart(spec("on-net", { networkMode: name }));
    const ip = (await engine.inspect(id)).ipAddress;
    const [subnet] = (await engine.inspectNetwork(name)).subnets;
    expect(ip.split(".").slice(0, 2)).toEqual(subnet!.split(".").slice(0, 2));
    const busy = await rejection(engine.removeNetwork(name));
    expect((busy as ContainerError).code).toBe("conflict");
    await engine.remove(id, { force: true });
  });

  it("removes it, and removing it again is fine", async () => {
    await engine.removeNetwork(name);
    expect((await rejection(engine.inspectNetwork(name)) as ContainerError).code).toBe("not_found");
    await engine.removeNetwork(name);
  });
});
