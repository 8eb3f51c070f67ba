import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DAEMON_SCRIPT, HUB_SCRIPT, Program } from "../support/program.js";
import { getJson, tempDir } from "../support/stack.js";

/** The programs themselves reading a config file and the environment, and refusing bad settings at start. */
describe("config files and environment, as the real programs read them", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const programs: Program[] = [];
  const run = (name: string, script: string, args: string[], env: NodeJS.ProcessEnv = {}): Program => {
    const p = new Program(name, script, args, env);
    programs.push(p);
    return p;
  };

  beforeAll(async () => (dir = await tempDir("config-file")));
  afterAll(async () => {
    await Promise.all(programs.map((p) => p.kill("SIGKILL")));
    await dir.remove();
  });

  it("rental-hub: listeners and metrics from the file, the data dir from the older HUB_DATA_DIR, a flag over both", async () => {
    const config = join(dir.path, "hub.toml");
    await writeFile(config, ['grpc-listen = "127.0.0.1:0"', 'http-listen = "127.0.0.1:0"', 'public-host = ["127.0.0.1", "localhost"]', 'metrics-listen = "127.0.0.1:0"', 'heartbeat-interval = "1s"', 'data-dir = "/nonexistent/from-file"'].join("\n"));
    const hub = run("rental-hub", HUB_SCRIPT, ["-config", config, "-chain-id", "5"], { HUB_DATA_DIR: join(dir.path, "hub-data"), RENTAL_HUB_CHAIN_ID: "7" });
    const ready = await hub.waitFor((l) => l.event === "ready", "ready line");
    expect(ready.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const nonce = await getJson<{ chainId: number }>(`${ready.httpUrl as string}/v1/auth/nonce`);
    expect(nonce.chainId).toBe(5);
    const metrics = await fetch(ready.metricsUrl as string).then((r) => r.text());
    expect(metrics).toContain("rental_hub_nodes_connected 0");
  });

  it.each([
    ["rental-hub", HUB_SCRIPT, 'heartbeat-intervall = "1s"\n', {}, /rental-hub: config file .*bad\.toml: key "heartbeat-intervall" is not a setting \(did you mean "heartbeat-interval"\?\)/],
    ["rental-hub", HUB_SCRIPT, 'chain-id = "one"\n', {}, /rental-hub: config file .*bad\.toml: key "chain-id": expected a whole number/],
    ["rental-hub", HUB_SCRIPT, "", { RENTAL_HUB_GRPC_LISTEN: "everywhere" }, /rental-hub: environment variable RENTAL_HUB_GRPC_LISTEN: expected host:port/],
    ["node-daemon", DAEMON_SCRIPT, "api-port = 99999\n", {}, /node-daemon: config file .*bad\.toml: key "api-port": expected a whole number from 0 to 65535/],
    ["node-daemon", DAEMON_SCRIPT, "[mining-env]\nPOOL = [1]\n", {}, /node-daemon: config file .*bad\.toml: key "mining-env": POOL: expected a string/],
    ["node-daemon", DAEMON_SCRIPT, "", { NODE_DAEMON_ENABLE_MINING: "sometimes" }, /node-daemon: environment variable NODE_DAEMON_ENABLE_MINING: invalid boolean "sometimes"/],
    ["node-daemon", DAEMON_SCRIPT, "", { NODE_DAEMON_PRIVAT_KEY: "00" }, /node-daemon: environment variable NODE_DAEMON_PRIVAT_KEY is not a setting \(did you mean "NODE_DAEMON_PRIVATE_KEY"\?\)/],
    // Values that used to pass here and fail later inside the daemon, blaming "-hub" whatever their source.
    ["node-daemon", DAEMON_SCRIPT, "", { NODE_DAEMON_HUB: "hub.example.com" }, /node-daemon: environment variable NODE_DAEMON_HUB: expected host:port/],
    ["node-daemon", DAEMON_SCRIPT, 'hub-ca-fingerprint = "sha256:REPLACE_WITH_THE_HUB_CA_FINGERPRINT"\n', {}, /node-daemon: config file .*bad\.toml: key "hub-ca-fingerprint": not a SHA-256 fingerprint/],
    ["node-daemon", DAEMON_SCRIPT, 'hub-http = "http://hub.example.com:8080"\n', {}, /node-daemon: config file .*bad\.toml: key "hub-http": http:\/\/hub\.example\.com:8080 is plain HTTP/],
    ["rental-hub", HUB_SCRIPT, 'siwe-domain = "https://hub.example.com"\n', {}, /rental-hub: config file .*bad\.toml: key "siwe-domain": expected a host or host:port/],
  ])("%s refuses to start on a bad setting (case %#), naming the key and the source", async (name, script, toml, env, message) => {
    const config = join(dir.path, "bad.toml");
    await writeFile(config, toml);
    const p = run(name, script, ["-config", config], env);
    expect((await p.exited).code).toBe(2);
    expect(p.output).toMatch(message);
  });

  it("rental-hub refuses a database-url-file readable by others, without printing the URL in it", async () => {
    const urlFile = join(dir.path, "database-url");
    await writeFile(urlFile, "postgres://hub:s3cret-pw@db.example:5432/hub\n");
    await chmod(urlFile, 0o644);
    const p = run("rental-hub", HUB_SCRIPT, [], { RENTAL_HUB_DATABASE_URL_FILE: urlFile });
    expect((await p.exited).code).toBe(2);
    expect(p.output).toMatch(/rental-hub: environment variable RENTAL_HUB_DATABASE_URL_FILE: .*database-url is readable by group or others \(mode 0644\); run: chmod 600/);
    expect(p.output).not.toContain("s3cret");
  });

  it("rental-hub refuses an operator key readable by others, and -chain-rpc without an escrow, printing neither the key nor the RPC URL", async () => {
    const key = "0x" + "ab".repeat(32);
    const keyFile = join(dir.path, "operator.key");
    await writeFile(keyFile, `${key}\n`);
    await chmod(keyFile, 0o644);
    const rpc = "https://rpc.example/v3/s3cret-api-key";
    const loose = run("rental-hub", HUB_SCRIPT, ["-chain-rpc", rpc, "-escrow-address", "0x5FbDB2315678afecb367f032d93F642f64180aa3", "-operator-key-file", keyFile]);
    expect((await loose.exited).code).toBe(2);
    expect(loose.output).toMatch(/rental-hub: flag -operator-key-file: .*operator\.key is readable by group or others \(mode 0644\); run: chmod 600/);
    const noEscrow = run("rental-hub", HUB_SCRIPT, ["-chain-rpc", rpc]);
    expect((await noEscrow.exited).code).toBe(2);
    expect(noEscrow.output).toMatch(/-chain-rpc needs -escrow-address/);
    for (const out of [loose.output, noEscrow.output]) {
      expect(out).not.toContain("abababab");
      expect(out).not.toContain("s3cret");
    }
  });

  it.each([
    ["node-daemon", DAEMON_SCRIPT],
    ["rental-hub", HUB_SCRIPT],
  ])("%s: a typo in a flag or a command exits 2 (systemd then stops restarting it); -version prints the version", async (name, script) => {
    const pkg = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    for (const args of [["-hubb", "x"], ["--no-such-flag"], ["statuss"]]) {
      const p = run(name, script, args);
      expect((await p.exited).code, args.join(" ")).toBe(2);
      expect(p.output).toMatch(/unknown (option|command)/);
    }
    const v = run(name, script, ["-version"]);
    expect((await v.exited).code).toBe(0);
    expect(v.output.trim().split("\n")[0]).toBe(pkg.version);
  });
});
