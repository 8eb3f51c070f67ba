import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshPostgresSchema } from "../support/postgres.js";
import type { Program } from "../support/program.js";
import { daemonArgs, getJson, type HubProcess, signInToHub, startDaemon, startHub, tempDir, writeKeyFile } from "../support/stack.js";

/** The hub process on PostgreSQL (-database-url) instead of its embedded SQLite. */
describe("rental-hub on PostgreSQL", () => {
  const programs: Program[] = [];
  let db: Awaited<ReturnType<typeof freshPostgresSchema>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    db = await freshPostgresSchema("hub_e2e");
    dir = await tempDir("hub-pg");
  });
  afterAll(async () => {
    await Promise.all(programs.map((p) => p.kill("SIGKILL")));
    await db?.drop();
    await dir?.remove();
  });

  it("registers a node, keeps it across a hub restart, and never prints the database password", async () => {
    // The first hub reads the URL from a 0600 file (as systemd's LoadCredential= hands it over), the second
    // takes it as a flag: the node is found after the restart only if both reached the same database.
    const urlFile = join(dir.path, "database-url");
    await writeFile(urlFile, `${db.url}\n`);
    await chmod(urlFile, 0o600);
    const start = (ports: { grpcPort?: number; httpPort?: number }, database: string[]) =>
      startHub(join(dir.path, "hub"), { ...ports, args: ["--heartbeat-interval", "1s", ...database] }).then((h) => (programs.push(h.program), h));
    let hub: HubProcess = await start({}, ["--database-url-file", urlFile]);
    const provider = Wallet.createRandom();
    const key = await writeKeyFile(dir.path, provider);
    const daemon = startDaemon(daemonArgs(hub, key, join(dir.path, "certs"), ["-docker-socket", join(dir.path, "none.sock")]));
    programs.push(daemon);
    const nodeId = (await daemon.waitFor((l) => l.created === true, "registration")).nodeId as string;
    await daemon.waitFor((l) => l.seq === 2, "second heartbeat");

    await hub.program.kill("SIGKILL");
    hub = await start({ grpcPort: hub.grpcPort, httpPort: hub.httpPort }, ["--database-url", db.url]);
    await hub.program.waitFor((l) => l.msg === "node online" && l.nodeId === nodeId, "the node back online");
    const node = await getJson<{ id: string; certificates: unknown[] }>(`${hub.httpUrl}/v1/nodes/${nodeId}`, await signInToHub(hub, provider));
    expect(node.id).toBe(nodeId);
    expect(node.certificates).toHaveLength(1);
    expect(programs.map((p) => p.output).join("\n")).not.toContain(":gpunode@");
  });
});
