import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerodeEngine } from "../../internal/container/dockerode-engine.js";
import { LABELS } from "../../internal/container/labels.js";
import { HttpError, requestJson } from "../../internal/httpclient/json-client.js";
import type { RentalView } from "../../internal/hubapi/rentals.js";
import { defaultHubOptions } from "../../internal/hub/options.js";
import type { HubRental } from "../../internal/hub/store/rental-store.js";
import { buildFakeNvml } from "../fixtures/nvml/build-fake-nvml.js";
import { fakeNvmlConfig, writeFakeNvmlConfig } from "../fixtures/nvml/fake-nvml-config.js";
import { runClient, type SshKey, sshExec, sshKeypair } from "../support/openssh.js";
import type { Program } from "../support/program.js";
import { signIn } from "../support/renter.js";
import { startDaemon, tempDir, writeKeyFile } from "../support/stack.js";
import { nodeOnline, rentalWhere as rentalOf, startTestHub, type TestHub } from "../support/test-hub.js";
import { removeNodeLeftovers } from "../support/node-leftovers.js";

const PRICE = "123456789012345678901"; // wei per second: more than a double holds exactly
const RETENTION_MS = 5_000;

/** A renter's whole path through the hub's REST API, to a real node process and back. */
describe("renters' API", () => {
  const engine = new DockerodeEngine();
  const provider = Wallet.createRandom();
  const renter = Wallet.createRandom();
  const stranger = Wallet.createRandom();
  let t: TestHub;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let daemon: Program;
  let args: string[];
  let env: NodeJS.ProcessEnv;
  let nodeId: string;
  let key: SshKey;
  let renterToken: string;

  const call = <T>(token: string, method: string, path: string, body?: unknown) => requestJson<T>(t.http, method, path, { bearer: token, body });
  const rentalWhere = (id: string, match: (r: HubRental) => boolean): Promise<HubRental> => rentalOf(t, id, match);

  beforeAll(async () => {
    dir = await tempDir("renter-api");
    // Duration-limit timers wake at least every 300 ms here, as one for a 90-day limit wakes every 24.8 days.
    t = await startTestHub({ heartbeatIntervalMs: 500, rentals: { ...defaultHubOptions.rentals, longestTimerMs: 300 } });
    const nvml = join(dir.path, "nvml.json");
    await writeFakeNvmlConfig(nvml, fakeNvmlConfig(2));
    key = await sshKeypair(dir.path, "renter");
    const base = 43_000 + Math.floor(Math.random() * 50) * 20;
    args = [
      "-hub", t.grpcTarget, "-hub-http", t.http.baseUrl, "-hub-ca-fingerprint", t.hub.info.caFingerprint, "-host", "127.0.0.1",
      "-private-key-file", await writeKeyFile(dir.path, provider), "-cert-dir", join(dir.path, "certs"), "-state-dir", join(dir.path, "state"),
      "-api-port", "0", "-api-listen-host", "127.0.0.1", "-nvml-library", await buildFakeNvml(), "-enable-mining=false",
      "-price-per-sec", PRICE, "-ssh-ports", `${base}-${base + 19}`, "-ssh-listen-host", "127.0.0.1",
      // Finished jobs' containers go soon after they end: a retention the tests can watch run out.
      "-ended-retention", `${RETENTION_MS}ms`,
    ];
    env = { FAKE_NVML_CONFIG: nvml };
    daemon = startDaemon(args, env);
    nodeId = (await daemon.waitFor((l) => l.created === true, "registration")).nodeId as string;
    await nodeOnline(t, nodeId);
    await daemon.waitFor((l) => l.seq === 2, "a heartbeat with the GPUs");
    renterToken = await signIn(t.http, renter);
  });

  afterAll(async () => {
    await daemon?.kill("SIGKILL");
    await removeNodeLeftovers(engine, nodeId);
    await t?.close();
    await dir?.remove();
  });

  it("rents 1 GPU of a model on any node, gets the SSH command, uses it, stops, and pays exactly seconds x price", async () => {
    const created = await call<RentalView>(renterToken, "POST", "/v1/rentals", { gpuCount: 1, gpuModel: "h100", image: "gpunode-test/busybox:latest", sshPublicKey: key.publicKey, memoryBytes: 128 * 1024 ** 2 });
    expect(created).toMatchObject({ status: "starting", nodeId, renter: renter.address, pricePerSecWei: PRICE });
    await rentalWhere(created.id, (r) => r.status === "running");
    const running = await call<RentalView>(renterToken, "GET", `/v1/rentals/${created.id}`);
    // The command handed out pins the node's host key: run as given (with the renter's key), it connects
    // with StrictHostKeyChecking=yes and nothing in known_hosts; it refuses a server with another key.
    expect(running.sshCommand).toMatch(/^ssh -o StrictHostKeyChecking=yes -o 'KnownHostsCommand=\/bin\/echo \[127\.0\.0\.1\]:\d+ ssh-ed25519 [A-Za-z0-9+/=]+' -p \d+ renter@127\.0\.0\.1$/);
    expect(running.sshKnownHosts).toMatch(/^\[127\.0\.0\.1\]:\d+ ssh-ed25519 /);
    const pasted = (command: string) => promisify(execFile)("sh", ["-c", `${command.replace(/^ssh /, `ssh -i ${key.privateKeyPath} -o UserKnownHostsFile=/dev/null -o BatchMode=yes `)} echo pinned`]);
    expect((await pasted(running.sshCommand!)).stdout).toBe("pinned\n");
    const otherKey = running.sshCommand!.replace(/ssh-ed25519 [A-Za-z0-9+/=]+/, `ssh-ed25519 ${key.publicKey.split(" ")[1] ?? ""}`);
    await expect(pasted(otherKey)).rejects.toMatchObject({ stderr: expect.stringMatching(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/) });
    expect((await sshExec(key, running.ssh!.port, "renter", "echo in-rental")).stdout.trim()).toBe("in-rental");

    const mine = await call<{ rentals: RentalView[] }>(renterToken, "GET", "/v1/rentals");
    expect(mine.rentals.map((r) => r.id)).toContain(created.id);
    const providerToken = await signIn(t.http, provider);
    const seen = await call<{ rentals: RentalView[] }>(providerToken, "GET", "/v1/rentals?role=provider");
    expect(seen.rentals.map((r) => r.id)).toContain(created.id);
    await expect(call(providerToken, "POST", `/v1/rentals/${created.id}/stop`)).rejects.toMatchObject({ status: 403, code: "not_your_rental" });

    const stopped = await call<RentalView>(renterToken, "POST", `/v1/rentals/${created.id}/stop`);
    expect(stopped.status).toBe("stopped");
    expect(stopped.secondsUsed).toBeGreaterThanOrEqual(1);
    expect(stopped.costWei).toBe((BigInt(stopped.secondsUsed) * BigInt(PRICE)).toString());
  });

  it("shows and stops a rental only for its renter (others get 404), and refuses an invalid body before the store", async () => {
    const created = await call<RentalView>(renterToken, "POST", "/v1/rentals", { nodeId, gpuIds: ["1"], image: "gpunode-test/busybox:latest", sshPublicKey: key.publicKey, memoryBytes: 128 * 1024 ** 2 });
    const strangerToken = await signIn(t.http, stranger);
    await expect(call(strangerToken, "GET", `/v1/rentals/${created.id}`)).rejects.toMatchObject({ status: 404, code: "unknown_rental" });
    await expect(call(strangerToken, "POST", `/v1/rentals/${created.id}/stop`)).rejects.toMatchObject({ status: 404 });
    expect((await call<{ rentals: unknown[] }>(strangerToken, "GET", "/v1/rentals")).rentals).toHaveLength(0);

    const before = (await t.hub.store.rentals.list({})).length;
    for (const body of [{ image: "x" }, { gpuCount: 1, image: "busybox", sshPublicKey: "not a key" }, { gpuCount: -1, image: "busybox", sshPublicKey: key.publicKey }, { image: "busybox", sshPublicKey: key.publicKey, surprise: 1 }]) {
      await expect(call(renterToken, "POST", "/v1/rentals", body)).rejects.toMatchObject({ status: 400, code: "invalid_request" });
    }
    expect((await t.hub.store.rentals.list({})).length).toBe(before);
    await rentalWhere(created.id, (r) => r.status === "running");
    await call(renterToken, "POST", `/v1/rentals/${created.id}/stop`);
  });

  it("keeps a rental marked 'node_offline' (not failed) while its node is away, and settles it by the node's report when it returns", async () => {
    const rent = (gpu: string) => call<RentalView>(renterToken, "POST", "/v1/rentals", { nodeId, gpuIds: [gpu], image: "gpunode-test/busybox:latest", sshPublicKey: key.publicKey, memoryBytes: 128 * 1024 ** 2 });
    const [created, ending] = [await rent("0"), await rent("1")];
    await Promise.all([created, ending].map((r) => rentalWhere(r.id, (x) => x.status === "running")));
    await daemon.kill("SIGKILL");
    expect((await rentalWhere(created.id, (r) => r.status === "node_offline")).reason).toBe("the node stopped heartbeating");
    await expect(call(renterToken, "GET", `/v1/rentals/${created.id}/logs`)).rejects.toMatchObject({ status: 409, code: "node_offline" });
    // One rental's container goes while the daemon is away: the daemon's first report no longer lists it.
    const gone = await engine.list({ labels: { [LABELS.rentalId]: ending.id } });
    await Promise.all(gone.map((c) => engine.remove(c.id, { force: true })));
    daemon = startDaemon(args, env);
    await rentalWhere(created.id, (r) => r.status === "running");
    const ended = await rentalWhere(ending.id, (r) => !["running", "node_offline"].includes(r.status));
    expect(ended).toMatchObject({ status: "exited", exitCode: null, reason: expect.stringContaining("ended while the node was away") });
    await call(renterToken, "POST", `/v1/rentals/${created.id}/stop`);
  });

  it("enforces the duration limit, not before it is reached however often its timer wakes", async () => {
    const created = await call<RentalView>(renterToken, "POST", "/v1/rentals", { nodeId, gpuIds: ["0"], image: "gpunode-test/busybox:latest", sshPublicKey: key.publicKey, memoryBytes: 128 * 1024 ** 2, maxDurationSeconds: 2 });
    const ended = await rentalWhere(created.id, (r) => r.status === "stopped");
    expect(ended.reason).toContain("duration limit reached");
    expect((ended.endedAt?.getTime() ?? 0) - (ended.startedAt?.getTime() ?? Infinity)).toBeGreaterThanOrEqual(2_000);
  });

  it("says why there is no capacity, and refuses requests without a session", async () => {
    await expect(call(renterToken, "POST", "/v1/rentals", { gpuCount: 1, gpuModel: "B200", image: "gpunode-test/busybox:latest", sshPublicKey: key.publicKey })).rejects.toMatchObject({ status: 409, code: "no_capacity" });
    await expect(requestJson(t.http, "GET", "/v1/rentals")).rejects.toBeInstanceOf(HttpError);
  });

  it("removes a finished job's container when its renter deletes it, or by itself after the node's retention period", async () => {
    const job = (command: string[]) => call<RentalView>(renterToken, "POST", "/v1/rentals", { nodeId, gpuCount: 1, image: "gpunode-test/busybox:latest", command, memoryBytes: 128 * 1024 ** 2 });
    const containersOf = (id: string) => engine.list({ labels: { [LABELS.rentalId]: id } });
    // Only once it has ended.
    const running = await job(["sleep", "1000"]);
    await rentalWhere(running.id, (r) => r.status === "running");
    await expect(call(renterToken, "DELETE", `/v1/rentals/${running.id}`)).rejects.toMatchObject({ status: 409, code: "rental_active" });
    expect(await containersOf(running.id)).toHaveLength(1);
    await call(renterToken, "POST", `/v1/rentals/${running.id}/stop`);

    const deleted = await job(["sh", "-c", "echo job-done; exit 3"]);
    expect(await rentalWhere(deleted.id, (r) => r.status === "exited")).toMatchObject({ exitCode: 3 });
    expect((await call<{ text: string }>(renterToken, "GET", `/v1/rentals/${deleted.id}/logs`)).text).toContain("job-done");
    // Only by its renter.
    await expect(call(await signIn(t.http, stranger), "DELETE", `/v1/rentals/${deleted.id}`)).rejects.toMatchObject({ status: 404, code: "unknown_rental" });
    const bill = (await call<RentalView>(renterToken, "GET", `/v1/rentals/${deleted.id}`)).costWei;
    expect(await call<RentalView>(renterToken, "DELETE", `/v1/rentals/${deleted.id}`)).toMatchObject({ id: deleted.id, status: "exited", exitCode: 3 });
    expect(await containersOf(deleted.id)).toHaveLength(0);
    await expect(call(renterToken, "GET", `/v1/rentals/${deleted.id}/logs`)).rejects.toMatchObject({ status: 410, code: "logs_removed" });
    // The bill stays.
    expect((await call<RentalView>(renterToken, "GET", `/v1/rentals/${deleted.id}`)).costWei).toBe(bill);

    // Nobody asks for this one: the node removes it once the retention period has passed.
    const kept = await job(["true"]);
    const ended = await rentalWhere(kept.id, (r) => r.status === "exited");
    expect(await containersOf(kept.id)).toHaveLength(1);
    await daemon.waitFor((l) => l.rentalId === kept.id && l.msg === "removed an ended rental's container after the retention period", "the retention sweep");
    expect(Date.now() - (ended.endedAt?.getTime() ?? Date.now())).toBeGreaterThanOrEqual(RETENTION_MS);
    expect(await containersOf(kept.id)).toHaveLength(0);
    await expect(call(renterToken, "GET", `/v1/rentals/${kept.id}/logs`)).rejects.toMatchObject({ status: 410, code: "logs_removed" });
  });

  it("runs SSH sessions as the image's own USER, with its HOME, for shells, commands and uploads; root only when asked", async () => {
    const run = promisify(execFile);
    const image = `gpunode-test/nonroot:${process.pid}`;
    const builder = `nonroot-build-${process.pid}`;
    // An image whose USER is 1234 (not in the base image), as Jupyter and many CUDA images are.
    await run("docker", ["run", "--name", builder, "gpunode-test/busybox:latest", "sh", "-c", "mkdir -p /home/app && echo 'app:x:1234:1234:app:/home/app:/bin/sh' >> /etc/passwd && chown 1234:1234 /home/app"]);
    await run("docker", ["commit", "--change", "USER 1234", builder, image]);
    await run("docker", ["rm", "-f", builder]);
    try {
      const rent = (runAsRoot: boolean) => call<RentalView>(renterToken, "POST", "/v1/rentals", { nodeId, gpuCount: 0, image, sshPublicKey: key.publicKey, memoryBytes: 128 * 1024 ** 2, runAsRoot });
      const asImageUser = await rent(false);
      const port = (await rentalWhere(asImageUser.id, (r) => r.status === "running")).ssh!.port;
      expect((await sshExec(key, port, "renter", "id -u; echo $HOME; pwd")).stdout).toBe("1234\n/home/app\n/home/app\n");
      const file = join(dir.path, "upload.txt");
      await writeFile(file, "mine\n");
      expect(await runClient("scp", ["-i", key.privateKeyPath, "-P", String(port), file, "renter@127.0.0.1:upload.txt"])).toMatchObject({ code: 0 });
      expect((await sshExec(key, port, "renter", "stat -c '%u %n' /home/app/upload.txt")).stdout).toBe("1234 /home/app/upload.txt\n");
      // Legacy SCP too: the bundled scp runs as the image's user, from its home.
      expect(await runClient("scp", ["-O", "-i", key.privateKeyPath, "-P", String(port), file, "renter@127.0.0.1:legacy.txt"])).toMatchObject({ code: 0 });
      expect((await sshExec(key, port, "renter", "stat -c '%u %n' legacy.txt")).stdout).toBe("1234 legacy.txt\n");
      await call(renterToken, "POST", `/v1/rentals/${asImageUser.id}/stop`);

      const asRoot = await rent(true);
      const rootPort = (await rentalWhere(asRoot.id, (r) => r.status === "running")).ssh!.port;
      expect((await sshExec(key, rootPort, "renter", "id -u")).stdout).toBe("0\n");
      await call(renterToken, "POST", `/v1/rentals/${asRoot.id}/stop`);
    } finally {
      await run("docker", ["image", "rm", "-f", image]).catch(() => undefined);
    }
  });
});
