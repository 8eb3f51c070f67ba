// A node whose NVIDIA Container Toolkit has a known container escape gets no rentals: the daemon reports
// the toolkit's version (here a stand-in nvidia-ctk), the hub says why in the node's view and refuses
// rentals there, and the operator's exemption (-container-toolkit-exempt) lets that node rent again.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpError, requestJson } from "../../internal/httpclient/json-client.js";
import type { Program } from "../support/program.js";
import { daemonArgs, getJson, type HubProcess, signInToHub, startDaemon, startHub, tempDir, writeKeyFile } from "../support/stack.js";

const STAND_IN_DIR = fileURLToPath(new URL("../fixtures/nvidia-ctk", import.meta.url));

interface NodeView {
  id: string;
  versions: Record<string, string>;
  refusesRentals: string | null;
}

describe("nodes with an unsafe NVIDIA Container Toolkit", () => {
  const provider = Wallet.createRandom();
  const renter = Wallet.createRandom();
  const programs: Program[] = [];
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let hub: HubProcess;
  let nodeId: string;

  beforeAll(async () => {
    dir = await tempDir("toolkit");
    hub = await startHub(join(dir.path, "hub"));
    programs.push(hub.program);
    const keyFile = await writeKeyFile(dir.path, provider);
    const args = daemonArgs(hub, keyFile, join(dir.path, "certs"), ["-docker-socket", join(dir.path, "no-docker.sock"), "-enable-mining=false"]);
    const daemon = startDaemon(args, { PATH: `${STAND_IN_DIR}:/usr/bin:/bin`, STANDIN_CONTAINER_TOOLKIT_VERSION: "1.17.4" });
    programs.push(daemon);
    nodeId = (await daemon.waitFor((l) => l.created === true, "registration")).nodeId as string;
    await daemon.waitFor((l) => l.seq === 1, "first heartbeat");
  });
  afterAll(async () => {
    await Promise.all(programs.map((p) => p.kill("SIGKILL")));
    await dir.remove();
  });

  /** One sign-in per hub process: a sign-in per attempt would run into the hub's sign-in limit while the test retries. */
  const sessions = new Map<HubProcess, Promise<string>>();
  const rent = async (h: HubProcess, body: Record<string, unknown>): Promise<number | string> => {
    const { caCertPem } = await getJson<{ caCertPem: string }>(`${h.httpUrl}/v1/ca`);
    const http = { baseUrl: h.httpUrl, ca: caCertPem };
    if (!sessions.has(h)) sessions.set(h, signInToHub(h, renter));
    try {
      await requestJson(http, "POST", "/v1/rentals", { bearer: await sessions.get(h), body: { gpuCount: 0, image: "busybox", command: ["true"], ...body } });
      return 202;
    } catch (err) {
      return err instanceof HttpError ? err.code : String(err);
    }
  };

  it("shows the toolkit's version and why the node gets no rentals, and refuses them, named or picked", async () => {
    const view = await getJson<NodeView>(`${hub.httpUrl}/v1/nodes/${nodeId}`);
    expect(view.versions.containerToolkit).toBe("1.17.4");
    expect(view.refusesRentals).toMatch(/NVIDIA Container Toolkit 1\.17\.4 is older than 1\.17\.8.*CVE-2025-23266/);
    expect(await rent(hub, { nodeId })).toBe("unsafe_container_toolkit");
    expect(await rent(hub, {})).toBe("no_capacity");
  });

  it("places rentals on it again once the operator exempts it", async () => {
    const { grpcPort, httpPort } = hub;
    await hub.program.kill("SIGTERM");
    hub = await startHub(join(dir.path, "hub"), { grpcPort, httpPort, args: ["--container-toolkit-exempt", nodeId] });
    programs.push(hub.program);
    const view = await getJson<NodeView>(`${hub.httpUrl}/v1/nodes/${nodeId}`);
    expect(view.refusesRentals).toBeNull();
    // The daemon redials the restarted hub; the rental is then accepted (what it runs is not this test's point).
    const deadline = Date.now() + 30_000;
    let answer = await rent(hub, { nodeId });
    while (answer === "node_offline" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      answer = await rent(hub, { nodeId });
    }
    expect(answer).toBe(202);
  });
});
