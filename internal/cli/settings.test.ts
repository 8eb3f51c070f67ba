import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../../test/support/stack.js";
import { normalizeGoStyleFlags } from "./go-style-flags.js";
import { nodeDaemonProgram, resolveNodeDaemonSettings, toNodeDaemonArgs } from "./node-daemon-flags.js";
import { rentalHubProgram, resolveRentalHubSettings, toRentalHubArgs } from "./rental-hub-flags.js";

/** Settings exactly as main.ts reads them: commander's flags, then the environment and the -config file. */
async function daemonSettings(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const program = nodeDaemonProgram().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  program.parse(normalizeGoStyleFlags(argv), { from: "user" });
  return resolveNodeDaemonSettings(program.opts(), env);
}

async function hubSettings(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const program = rentalHubProgram().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  program.parse(normalizeGoStyleFlags(argv), { from: "user" });
  return (await toRentalHubArgs(await resolveRentalHubSettings(program.opts(), env))).hub;
}

describe("settings: flags over environment over config file over defaults", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let n = 0;
  const file = async (toml: string, mode = 0o644): Promise<string> => {
    const path = join(dir.path, `config-${++n}.toml`);
    await writeFile(path, toml);
    await chmod(path, mode);
    return path;
  };
  beforeAll(async () => (dir = await tempDir("settings")));
  afterAll(() => dir.remove());

  it("takes each layer in order, and says where each value came from", async () => {
    const config = await file(`hub = "file:1"\napi-port = 1001\nmining-image = "file/image"\nchain-id = 5\n`);
    const env = { NODE_DAEMON_HUB: "env:2", NODE_DAEMON_API_PORT: "2002" };
    const r = await daemonSettings(["-config", config, "-hub", "flag:3"], env);
    expect(r.values).toMatchObject({ hub: "flag:3", apiPort: 2002, miningImage: "file/image", chainId: 5, enableMining: true });
    expect(r.sources).toMatchObject({ hub: "flag", apiPort: "env", miningImage: "file", chainId: "file", enableMining: "default" });
    expect(r.configFile).toBe(config);
    // The file named by the environment works the same.
    expect((await daemonSettings([], { NODE_DAEMON_CONFIG: config })).values.miningImage).toBe("file/image");
  });

  it("reads every kind of value from TOML: booleans, lists, the mining-env table, durations, big prices", async () => {
    const config = await file(
      [
        'enable-mining = false',
        'insecure-http = "true"',
        'prepull = ["a:1", "b:2"]',
        'mining-args = ["--pool", "stratum+tcp://p:3333", "--worker name"]',
        'pull-stall-timeout = "90s"',
        'price-per-sec = "123456789012345678901"',
        'memory-gb = 24.5',
        'ssh-ports = "3000-3009"',
        'metrics-listen = ""',
        "[mining-env]",
        'POOL = "stratum+tcp://p:3333"',
        "THREADS = 4",
      ].join("\n"),
    );
    const d = toNodeDaemonArgs(await daemonSettings(["-config", config])).daemon;
    expect(d).toMatchObject({ enableMining: false, insecureHttp: true, prepull: ["a:1", "b:2"], pullStallTimeoutMs: 90_000, pricePerSecWei: "123456789012345678901", memoryGb: 24.5, sshPorts: { first: 3000, last: 3009 } });
    expect(d.miningArgs).toEqual(["--pool", "stratum+tcp://p:3333", "--worker name"]);
    expect(d.miningEnv).toEqual([{ name: "POOL", value: "stratum+tcp://p:3333" }, { name: "THREADS", value: "4" }]);
    expect(d.metricsListen).toBeUndefined();
  });

  it("lets a flag replace a list from the file, and reads one NAME=VALUE a line from the environment", async () => {
    const config = await file(`mining-env = ["A=1", "B=2"]\nprepull = ["x"]\n`);
    expect((await daemonSettings(["-config", config, "-mining-env", "C=3"])).values.miningEnv).toEqual([{ name: "C", value: "3" }]);
    expect((await daemonSettings(["-config", config], { NODE_DAEMON_MINING_ENV: "D=4\nE=a=b\n" })).values.miningEnv).toEqual([
      { name: "D", value: "4" },
      { name: "E", value: "a=b" },
    ]);
    expect((await daemonSettings(["-config", config], { NODE_DAEMON_PREPULL: "p, q" })).values.prepull).toEqual(["p", "q"]);
  });

  it("keeps NODE_DAEMON_PRIVATE_KEY as the key itself, and marks where the key came from", async () => {
    const key = "0x" + "11".repeat(32);
    expect(toNodeDaemonArgs(await daemonSettings([], { NODE_DAEMON_PRIVATE_KEY: key })).daemon.privateKey).toEqual({ value: key, from: "env" });
    expect(toNodeDaemonArgs(await daemonSettings(["-private-key", key])).daemon.privateKey).toEqual({ value: key, from: "flag" });
    expect(toNodeDaemonArgs(await daemonSettings([])).daemon.privateKey).toBeUndefined();
  });

  it.each([
    ["an unknown key, with a suggestion", `hubb = "x:1"\n`, /config file .*: key "hubb" is not a setting \(did you mean "hub"\?\)/],
    ["snake_case for kebab-case", `private_key_file = "/k"\n`, /key "private_key_file" is not a setting \(did you mean "private-key-file"\?\)/],
    ["a bad number", `api-port = 70000\n`, /key "api-port": expected a whole number from 0 to 65535/],
    ["the wrong type", `hub = 8443\n`, /key "hub": expected a string, got a number/],
    ["a bad boolean", `enable-mining = "maybe"\n`, /key "enable-mining": invalid boolean "maybe"/],
    ["a bad duration", `pull-stall-timeout = "soon"\n`, /key "pull-stall-timeout": invalid duration/],
    ["a bad mining-env name", `[mining-env]\n"1X" = "y"\n`, /key "mining-env": "1X" is not a variable name/],
    ["a config key in the config file", `config = "/other.toml"\n`, /key "config" cannot be set in a config file/],
    ["broken TOML", `hub = \n`, /not valid TOML at line 1/],
  ])("refuses a config file with %s, naming the key", async (_what, toml, message) => {
    const config = await file(toml);
    await expect(daemonSettings(["-config", config])).rejects.toThrow(message);
  });

  it.each([
    ["a bad number", { NODE_DAEMON_API_PORT: "http" }, /environment variable NODE_DAEMON_API_PORT: expected a whole number/],
    ["a bad boolean", { NODE_DAEMON_ENABLE_MINING: "perhaps" }, /environment variable NODE_DAEMON_ENABLE_MINING: invalid boolean/],
    ["a bad NAME=VALUE line", { NODE_DAEMON_MINING_ENV: "A=1\n=2" }, /environment variable NODE_DAEMON_MINING_ENV: expected NAME=VALUE/],
    ["an unknown variable, with a suggestion", { NODE_DAEMON_HUB_HTTPS: "x" }, /environment variable NODE_DAEMON_HUB_HTTPS is not a setting \(did you mean "NODE_DAEMON_HUB_HTTP"\?\)/],
  ])("refuses an environment with %s, naming the variable", async (_what, env, message) => {
    await expect(daemonSettings([], env)).rejects.toThrow(message);
  });

  it("leaves systemd's NODE_DAEMON_ARGS alone, and names a config file it cannot read", async () => {
    await expect(daemonSettings([], { NODE_DAEMON_ARGS: "-hub x:1" })).resolves.toBeDefined();
    await expect(daemonSettings(["-config", join(dir.path, "missing.toml")])).rejects.toThrow(/config file .*missing\.toml: cannot read it \(ENOENT\)/);
  });

  it("refuses a config file holding private-key unless it is mode 0600, without echoing the key", async () => {
    const key = "ab".repeat(32);
    const loose = await file(`private-key = "${key}"\n`, 0o640);
    const err = await daemonSettings(["-config", loose]).catch((e: Error) => e);
    expect(String(err)).toMatch(/holds private-key but is readable by group or others \(mode 0640\); run: chmod 600/);
    expect(String(err)).not.toContain(key);
    const tight = await file(`private-key = "${key}"\n`, 0o600);
    expect(toNodeDaemonArgs(await daemonSettings(["-config", tight])).daemon.privateKey).toEqual({ value: key, from: "file" });
  });

  it.each([
    ["-hub without a port", ["-hub", "hub.example.com"], {}, /flag -hub: expected host:port/],
    ["-hub-http with another scheme", [], { NODE_DAEMON_HUB_HTTP: "ftp://hub.example.com" }, /environment variable NODE_DAEMON_HUB_HTTP: expected an https:\/\/ URL, got a ftp: URL/],
    ["-hub-http with a path it would drop", ["-hub-http", "https://hub.example.com:8080/api"], {}, /flag -hub-http: expected scheme, host and port only, e.g. https:\/\/hub.example.com:8080/],
    ["-hub-http over plain HTTP without -insecure-http", [], { NODE_DAEMON_HUB_HTTP: "http://127.0.0.1:8080" }, /environment variable NODE_DAEMON_HUB_HTTP: http:\/\/127.0.0.1:8080 is plain HTTP/],
    ["a short -hub-ca-fingerprint", ["-hub-ca-fingerprint", "sha256:abcd"], {}, /flag -hub-ca-fingerprint: not a SHA-256 fingerprint/],
    ["-siwe-domain as a URL", ["-siwe-domain", "https://hub.example.com"], {}, /flag -siwe-domain: expected a host or host:port/],
    ["-siwe-domain with a bare IPv6 address", ["-siwe-domain", "::1:8080"], {}, /flag -siwe-domain: expected a host or host:port/],
    ["-host with a space", [], { NODE_DAEMON_HOST: "my gpu box" }, /environment variable NODE_DAEMON_HOST: expected a DNS name or an IP address/],
  ])("node-daemon refuses %s, naming where it was set", async (_what, argv, env, message) => {
    await expect(daemonSettings(argv, env)).rejects.toThrow(message);
  });

  it("node-daemon takes addresses in their usual forms, and a fingerprint as openssl prints it", async () => {
    const fp = "AB:".repeat(31) + "AB";
    const config = await file(`hub = "[2001:db8::1]:8443"\nhub-http = "http://127.0.0.1:8080/"\ninsecure-http = true\nsiwe-domain = "[::1]:8080"\nhost = "2001:db8::10"\n`);
    const d = toNodeDaemonArgs(await daemonSettings(["-config", config, "-hub-ca-fingerprint", `SHA256 Fingerprint=${fp}`])).daemon;
    expect(d).toMatchObject({ hub: "[2001:db8::1]:8443", hubHttp: "http://127.0.0.1:8080", siweDomain: "[::1]:8080", host: "2001:db8::10", hubCaFingerprint: `sha256:${"ab".repeat(32)}` });
    // Empty still means "not set".
    expect(toNodeDaemonArgs(await daemonSettings(["-hub-http=", "-host="])).daemon).toMatchObject({ hubHttp: undefined, host: undefined });
  });

  it.each([
    ["a public host that is no name", ["-public-host", "hub.example.com,not a name"], {}, /flag -public-host: "not a name": expected a DNS name or an IP address/],
    ["-siwe-domain with a path", [], { SIWE_DOMAIN: "hub.example.com/login" }, /environment variable SIWE_DOMAIN: expected a host or host:port/],
    ["a database URL of another kind, without its password", [], { HUB_DATABASE_URL: "mysql://hub:s3cret@db/hub" }, /environment variable HUB_DATABASE_URL: mysql:\/\/hub:\*\*\*@db\/hub is not a postgres:\/\/ or postgresql:\/\/ URL/],
  ])("rental-hub refuses %s", async (_what, argv, env, message) => {
    const err = await hubSettings(argv, env).catch((e: Error) => e);
    expect(String(err)).toMatch(message);
    expect(String(err)).not.toContain("s3cret");
  });

  it("rental-hub reads -database-url-file: mode 0600 only, empty means none, never together with -database-url", async () => {
    const url = "postgres://hub:s3cret@db.example:5432/hub";
    const tight = await file(`${url}\n`, 0o600);
    expect((await hubSettings(["-database-url-file", tight])).databaseUrl).toBe(url);
    expect((await hubSettings(["-database-url-file", await file("\n", 0o600)])).databaseUrl).toBeUndefined();

    const refusal = (argv: string[], env: NodeJS.ProcessEnv = {}) => hubSettings(argv, env).then(() => new Error("accepted"), (e: Error) => e);
    const errors = [
      await refusal(["-database-url-file", await file(url, 0o640)]),
      await refusal(["-database-url-file", tight], { HUB_DATABASE_URL: url }),
      await refusal(["-database-url-file", await file("s3cret\n", 0o600)]),
      await refusal([], { RENTAL_HUB_DATABASE_URL_FILE: join(dir.path, "missing") }),
    ];
    expect(errors.map(String)).toEqual([
      expect.stringMatching(/flag -database-url-file: .* is readable by group or others \(mode 0640\); run: chmod 600/),
      expect.stringMatching(/flag -database-url-file and environment variable RENTAL_HUB_DATABASE_URL \/ HUB_DATABASE_URL both give a database URL; keep one/),
      expect.stringMatching(/flag -database-url-file: .*: not a URL \(the value is not shown\)/),
      expect.stringMatching(/environment variable RENTAL_HUB_DATABASE_URL_FILE: cannot read .*missing \(ENOENT\)/),
    ]);
    for (const e of errors) expect(String(e)).not.toContain("s3cret");
  });

  it("rental-hub: RENTAL_HUB_<FLAG>, the older SIWE_DOMAIN / HUB_DATA_DIR / HUB_DATABASE_URL below it, and its own config file", async () => {
    const config = await file(`grpc-listen = "127.0.0.1:9000"\nheartbeat-interval = "5s"\ndata-dir = "/from/file"\npublic-host = "a.example,b.example"\n`);
    const hub = await hubSettings(["-config", config], { HUB_DATA_DIR: "/from/alias", SIWE_DOMAIN: "alias.example:8080", RENTAL_HUB_SIWE_DOMAIN: "new.example:8080", HUB_DATABASE_URL: "postgres://u:p@h/db" });
    expect(hub).toMatchObject({ grpcListen: { host: "127.0.0.1", port: 9000 }, heartbeatIntervalMs: 5_000, dataDir: "/from/alias", siweDomain: "new.example:8080", databaseUrl: "postgres://u:p@h/db", publicHosts: ["a.example", "b.example"] });
    expect((await hubSettings(["-data-dir", "/from/flag"], { HUB_DATA_DIR: "/from/alias" })).dataDir).toBe("/from/flag");
    expect((await hubSettings([])).metricsListen).toEqual({ host: "127.0.0.1", port: 9465 });
    expect((await hubSettings([], { RENTAL_HUB_METRICS_LISTEN: "" })).metricsListen).toBeUndefined();
    await expect(hubSettings([], { RENTAL_HUB_HEARTBEAT_INTERVAL: "fast" })).rejects.toThrow(/environment variable RENTAL_HUB_HEARTBEAT_INTERVAL: invalid duration/);
    await expect(hubSettings(["-config", await file(`grpc-listen = "nowhere"\n`)])).rejects.toThrow(/key "grpc-listen": expected host:port/);
    await expect(hubSettings(["-config", await file(`database-url = "postgres://u:p@h/db"\n`)])).rejects.toThrow(/holds database-url but is readable by group or others/);
  });
});
