import { once } from "node:events";
import { connect, type PeerCertificate } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requestJson } from "../../httpclient/json-client.js";
import { enrollNode, type ScriptedNode, startScriptedNode, startTestHub, type TestHub } from "../../../test/support/test-hub.js";

/** The certificate the hub's HTTPS port presents to a new connection that trusts only the hub CA. */
async function presentedCertificate(t: TestHub): Promise<PeerCertificate> {
  const socket = connect({ host: "127.0.0.1", port: t.hub.info.httpPort, ca: t.http.ca });
  await once(socket, "secureConnect");
  const cert = socket.getPeerCertificate();
  socket.end();
  return cert;
}

/** A hub whose own certificate lives 3 s: it must renew in place, twice, and keep serving past the first one's end. */
describe("the hub's own TLS certificate", () => {
  let t: TestHub;
  let first: ScriptedNode;
  let reconnects = 0;

  beforeAll(async () => {
    t = await startTestHub({ hubCertLifetimeMs: 3_000, heartbeatIntervalMs: 60_000 });
    first = await startScriptedNode(t, await enrollNode(t, { machineId: "1".repeat(64) }), {});
    first.link.on("connected", () => reconnects++);
  });
  afterAll(async () => {
    await first?.stop();
    await t?.close();
  });

  it("is renewed before it expires without a restart: new HTTPS and gRPC handshakes get the new one, open streams stay up", async () => {
    const before = await presentedCertificate(t);
    const firstEnd = new Date(before.valid_to).getTime();
    while (Date.now() <= firstEnd) await once(t.hub.tls, "renewed");

    const after = await presentedCertificate(t);
    expect(after.serialNumber).not.toBe(before.serialNumber);
    expect(new Date(after.valid_to).getTime()).toBeGreaterThan(Date.now());
    expect(new Date(after.valid_to).getTime()).toBeGreaterThan(firstEnd);
    // Past the first certificate's end, the hub still signs nodes in over HTTPS and takes new gRPC streams.
    expect(await requestJson<{ ok: boolean }>(t.http, "GET", "/healthz")).toMatchObject({ ok: true });
    const late = await startScriptedNode(t, await enrollNode(t, { machineId: "2".repeat(64) }), {});
    await late.beat();
    await late.stop();
    // The stream opened before any renewal never dropped.
    await first.beat();
    expect(reconnects).toBe(0);
  });
});
