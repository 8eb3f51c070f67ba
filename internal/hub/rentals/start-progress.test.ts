import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requestJson } from "../../httpclient/json-client.js";
import { RentalInfo, RentalState, type StartRental } from "../../proto/gen/gpunode/v1/gpunode.js";
import { signIn } from "../../../test/support/renter.js";
import { enrollNode, rentalWhere, type ScriptedNode, startScriptedNode, startTestHub, type TestHub } from "../../../test/support/test-hub.js";
import { defaultHubOptions } from "../options.js";
import type { RentalView } from "../../hubapi/rentals.js";

const SILENCE_MS = 600;

/** How long the hub waits for a start: as long as the node reports progress, and a renter may stop it meanwhile. */
describe("a rental's start, while its image pulls", () => {
  const renter = Wallet.createRandom();
  let t: TestHub;
  let token: string;
  let machine = 0;
  const nodes: ScriptedNode[] = [];

  beforeAll(async () => {
    t = await startTestHub({ heartbeatIntervalMs: 60_000, rentals: { ...defaultHubOptions.rentals, startSilenceMs: SILENCE_MS, commandTimeoutMs: 5_000 } });
    token = await signIn(t.http, renter);
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await t?.close();
  });

  async function rentOn(handlers: Parameters<typeof startScriptedNode>[2]): Promise<{ rental: RentalView; node: ScriptedNode }> {
    const creds = await enrollNode(t, { machineId: (++machine).toString(16).padStart(64, "0") });
    const node = await startScriptedNode(t, creds, handlers);
    nodes.push(node);
    const rental = await requestJson<RentalView>(t.http, "POST", "/v1/rentals", { bearer: token, body: { nodeId: creds.nodeId, gpuCount: 0, image: "busybox", command: ["true"] } });
    return { rental, node };
  }
  const progress = (node: ScriptedNode, rentalId: string, bytes: number) =>
    node.link.notify({ $case: "pullProgress", value: { rentalId, image: "busybox", status: "Downloading", currentBytes: bytes, totalBytes: 10 * SILENCE_MS, layersDone: 0, layersTotal: 1 } });

  it("keeps waiting past the silence limit while pull progress comes in, and fails a start that goes quiet", async () => {
    let moving: ScriptedNode | undefined;
    const pulled = await rentOn({
      startRental: async (cmd: StartRental) => {
        // Progress for five silence periods, never more than half of one apart.
        for (let sent = 0; sent < 10; sent++) {
          progress(moving!, cmd.rentalId, sent * SILENCE_MS);
          await new Promise((resolve) => setTimeout(resolve, SILENCE_MS / 2));
        }
        return { $case: "rental", value: RentalInfo.fromPartial({ rentalId: cmd.rentalId, state: RentalState.RENTAL_STATE_RUNNING, startedAt: new Date().toISOString() }) };
      },
    });
    moving = pulled.node;
    const running = await rentalWhere(t, pulled.rental.id, (r) => r.status !== "starting");
    expect(running.status).toBe("running");
    expect(running.startedAt!.getTime() - running.createdAt.getTime()).toBeGreaterThan(4 * SILENCE_MS);

    const quiet = await rentOn({ startRental: (_cmd, signal) => new Promise((_, reject) => signal.addEventListener("abort", () => reject(new Error("node stopped")))) });
    const failed = await rentalWhere(t, quiet.rental.id, (r) => r.status !== "starting");
    expect(failed).toMatchObject({ status: "failed", reason: expect.stringContaining(`no progress starting it for ${Math.round(SILENCE_MS / 1000)} s`) });
  });

  it("lets the renter stop a rental while it is starting: it ends stopped, not failed", async () => {
    let stopped!: () => void;
    const stopAsked = new Promise<void>((resolve) => (stopped = resolve));
    const ended = (rentalId: string) => RentalInfo.fromPartial({ rentalId, state: RentalState.RENTAL_STATE_STOPPED, reason: "stopped by the hub while it was starting" });
    const { rental } = await rentOn({
      // As the daemon does: the start ends (as stopped) when a stop arrives during the pull.
      startRental: async (cmd: StartRental) => (await stopAsked, { $case: "rental", value: ended(cmd.rentalId) }),
      stopRental: async (cmd) => (stopped(), { $case: "rental", value: ended(cmd.rentalId) }),
    });
    const view = await requestJson<RentalView>(t.http, "POST", `/v1/rentals/${rental.id}/stop`, { bearer: token });
    expect(view).toMatchObject({ status: "stopped", startedAt: null, costWei: "0" });
    const final = await rentalWhere(t, rental.id, (r) => r.status !== "starting");
    expect(final.status).toBe("stopped");
  });
});
