// How a daemon comes to trust a hub and which SIWE domain it signs for, with real processes:
// a hub whose SIWE domain is not the address the daemon dials (a hub behind a name, reached by IP).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Program } from "../support/program.js";
import { daemonArgs, type HubProcess, startDaemon, startHub, tempDir, writeKeyFile } from "../support/stack.js";

const HUB_DOMAIN = "hub.example:8080";
const CONNECTED = "connected to the hub over mTLS";

describe("hub trust and the SIWE domain", () => {
  const wallet = Wallet.createRandom();
  const programs: Program[] = [];
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let hub: HubProcess;
  let keyFile: string;

  const noDocker = () => ["-docker-socket", join(dir.path, "no-docker.sock")];
  /** The usual test arguments, less the pin unless `pin` is given. */
  const args = (certDir: string, opts: { pin?: string; extra?: string[] } = {}): string[] => {
    const all = daemonArgs(hub, keyFile, join(dir.path, certDir), [...noDocker(), ...(opts.extra ?? [])]);
    const at = all.indexOf("-hub-ca-fingerprint");
    all.splice(at, 2, ...(opts.pin ? ["-hub-ca-fingerprint", opts.pin] : []));
    return all;
  };
  const run = (a: string[]): Program => {
    const p = startDaemon(a);
    programs.push(p);
    return p;
  };

  beforeAll(async () => {
    dir = await tempDir("e2e-trust");
    hub = await startHub(join(dir.path, "hub"), { args: ["--siwe-domain", HUB_DOMAIN] });
    programs.push(hub.program);
    keyFile = await writeKeyFile(dir.path, wallet);
  });

  afterAll(async () => {
    await Promise.all(programs.map((p) => p.kill("SIGKILL")));
    await dir.remove();
  });

  it("signs in for the domain the hub names, trusts its CA on first use loudly, and remembers it", async () => {
    const first = run(args("tofu"));
    const tofu = await first.waitFor((l) => typeof l.msg === "string" && l.msg.startsWith("TRUST ON FIRST USE"), "the trust-on-first-use warning");
    expect(tofu.msg).toContain(hub.caFingerprint);
    expect(tofu.msg).toContain(`-hub-ca-fingerprint ${hub.caFingerprint}`);
    await first.waitFor((l) => l.created === true, "registration");
    await first.waitFor((l) => l.msg === CONNECTED, "the mTLS channel");
    expect(first.output).not.toContain("the hub expects SIWE domain");
    expect((await first.kill("SIGTERM")).code).toBe(0);

    // Started again, now with a pin that disagrees with the CA it remembered: refused, says both.
    const wrong = `sha256:${"00".repeat(32)}`;
    const pinned = run(args("tofu", { pin: wrong }));
    const { code } = await pinned.exited;
    expect(code).not.toBe(0);
    expect(pinned.output).toContain(hub.caFingerprint);
    expect(pinned.output).toContain(wrong);
    expect(pinned.output).not.toContain(CONNECTED);
  });

  it("refuses a hub whose CA is not the pinned one and keeps nothing from it", async () => {
    const wrong = `sha256:${"ab".repeat(32)}`;
    const p = run(args("pinned-wrong", { pin: wrong }));
    const { code } = await p.exited;
    expect(code).not.toBe(0);
    expect(p.output).toContain(`presents CA ${hub.caFingerprint}, not the pinned ${wrong}`);
    expect(existsSync(join(dir.path, "pinned-wrong", "ca.crt"))).toBe(false);
    expect(p.output).not.toContain("signed in as");
  });

  it("with a -siwe-domain the hub does not expect, warns first and then names the failed check", async () => {
    const p = run(args("wrong-domain", { pin: hub.caFingerprint, extra: ["-siwe-domain", "other.example"] }));
    const { code } = await p.exited;
    expect(code).not.toBe(0);
    expect(p.output).toContain(`the hub expects SIWE domain ${HUB_DOMAIN}, not other.example`);
    const fatal = p.lines.find((l) => l.msg.startsWith("cannot start"))?.msg;
    expect(fatal).toContain(`domain check failed: expected "${HUB_DOMAIN}", got "other.example"`);
    expect(fatal).toContain("set -siwe-domain");
  });

  it("refuses plain HTTP to the hub unless -insecure-http says so", async () => {
    const a = args("plain-http", { pin: hub.caFingerprint });
    a.splice(a.indexOf("-hub-http") + 1, 1, `http://127.0.0.1:${hub.httpPort}`);
    const p = run(a);
    const { code } = await p.exited;
    expect(code).not.toBe(0);
    expect(p.output).toContain("is plain HTTP");
    expect(p.output).toContain("-insecure-http");
    expect(p.output).not.toContain("signed in as");
  });
});
