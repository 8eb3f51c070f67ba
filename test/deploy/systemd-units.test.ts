import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultDaemonOptions } from "../../internal/daemon/options.js";
import { parseUnit, type RunResult, run, type UnitEntry, values } from "./unit-file.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const UNITS = {
  "node-daemon.service": "/usr/bin/node-daemon",
  "node-ssh-gateway.service": "/usr/bin/node-ssh-gateway",
  "rental-hub.service": "/usr/bin/rental-hub",
} as const;
type UnitName = keyof typeof UNITS;

/** systemd-analyze, or a failure that says what to install: CI must have it, so this never skips. */
async function systemdAnalyze(args: string[], env?: NodeJS.ProcessEnv): Promise<RunResult> {
  try {
    return await run("systemd-analyze", args, { env: { ...process.env, SYSTEMD_COLORS: "0", SYSTEMD_PAGER: "", ...env } });
  } catch (err) {
    throw new Error("systemd-analyze not found: install Debian's systemd package (apt-get install -y systemd; test/setup/engines.sh's PACKAGES must list it)", { cause: err });
  }
}

/**
 * A scratch copy of the units that `systemd-analyze verify` can load on a machine where the binaries are not
 * installed and no systemd runs: ExecStart's binary becomes an executable stand-in (verify fails on a missing
 * one), and docker.service a stub beside them (verify looks up a unit's dependencies in the unit's own folder
 * too), so the result does not depend on whether Docker's package is installed or on its unit's warnings.
 */
async function scratchUnits(dir: string, edit: (name: UnitName, text: string) => string = (_n, t) => t): Promise<Record<UnitName, string>> {
  const standIn = join(dir, "stand-in");
  await writeFile(standIn, "#!/bin/sh\nexit 0\n");
  await chmod(standIn, 0o755);
  await writeFile(join(dir, "docker.service"), `[Unit]\nDescription=stand-in for Docker's unit\n\n[Service]\nExecStart=${standIn}\n`);
  const paths = {} as Record<UnitName, string>;
  for (const [name, bin] of Object.entries(UNITS) as [UnitName, string][]) {
    const text = await readFile(join(REPO, "systemd", name), "utf8");
    const rewritten = text.replace(new RegExp(`^ExecStart=${bin}(?= )`, "m"), `ExecStart=${standIn}`);
    expect(rewritten, `${name}: ExecStart= does not start with ${bin}`).not.toBe(text);
    paths[name] = join(dir, name);
    await writeFile(paths[name], edit(name, rewritten));
  }
  return paths;
}

/** verify's complaints about our files: lines naming them (other units' warnings are not ours to judge). */
function complaints(r: RunResult, dir: string): string[] {
  return `${r.stdout}\n${r.stderr}`
    .split("\n")
    .filter((l) => l.includes(dir) || Object.keys(UNITS).some((u) => l.includes(u)));
}

describe("systemd units", () => {
  let dir: string;
  const units = {} as Record<UnitName, UnitEntry[]>;
  const texts = {} as Record<UnitName, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "units-"));
    for (const name of Object.keys(UNITS) as UnitName[]) {
      texts[name] = await readFile(join(REPO, "systemd", name), "utf8");
      units[name] = parseUnit(texts[name]);
    }
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("pass systemd-analyze verify, with no warning about any of the files", async () => {
    const sub = await mkdtemp(join(dir, "ok-"));
    const paths = await scratchUnits(sub);
    const r = await systemdAnalyze(["verify", "--man=no", ...Object.values(paths)]);
    expect(complaints(r, sub), r.stderr).toEqual([]);
    expect(r.code, r.stderr).toBe(0);
  });

  it("would be caught by that check when a line is wrong (verify only warns, and exits 0, on a bad value)", async () => {
    const sub = await mkdtemp(join(dir, "bad-"));
    const paths = await scratchUnits(sub, (name, t) => (name === "node-daemon.service" ? t.replace("KillMode=process", "KillMode=processes") : t));
    const r = await systemdAnalyze(["verify", "--man=no", paths["node-daemon.service"]]);
    expect(complaints(r, sub).join("\n")).toMatch(/kill mode/i);
  });

  it("keep their systemd-analyze security exposure low (hardening not silently dropped)", async () => {
    // systemd 252 (Debian 12) scores them 2.2, 1.4 and 1.4 (0 = locked down, 10 = none); the daemon needs GPU
    // devices, netlink, the docker group and CAP_NET_ADMIN (rental isolation); the gateway the docker group only.
    // A setting removed by accident shows here.
    const MAX_EXPOSURE: Record<UnitName, number> = { "node-daemon.service": 2.2, "node-ssh-gateway.service": 1.5, "rental-hub.service": 1.7 };
    const sub = await mkdtemp(join(dir, "sec-"));
    const paths = await scratchUnits(sub);
    for (const name of Object.keys(UNITS) as UnitName[]) {
      const r = await systemdAnalyze(["security", "--offline=true", "--no-pager", paths[name]]);
      const m = /Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout);
      expect(m, `${name}: ${r.stdout}${r.stderr}`).not.toBeNull();
      expect(Number(m?.[1]), `${name} exposure`).toBeLessThanOrEqual(MAX_EXPOSURE[name]);
    }
  });

  it("hand the wallet key over as a credential, never on the command line", () => {
    const d = units["node-daemon.service"];
    expect(values(d, "Service", "LoadCredential")).toEqual(["wallet.key:/etc/node-daemon/wallet.key"]);
    const exec = values(d, "Service", "ExecStart");
    expect(exec).toHaveLength(1);
    expect(exec[0]).toContain("-private-key-file %d/wallet.key");
    for (const name of Object.keys(UNITS) as UnitName[]) {
      for (const e of units[name].filter((x) => x.key.startsWith("Exec"))) {
        expect(e.value, `${name}:${e.line}`).not.toMatch(/(^|\s)--?private-key(=|\s|$)/);
        expect(e.value, `${name}:${e.line}`).not.toMatch(/[0-9a-fA-F]{64}/);
      }
      expect(texts[name], name).not.toMatch(/^Environment=.*PRIVATE_KEY/m);
    }
  });

  it("hand the hub its database URL over as a credential, never on the command line or in the environment", () => {
    const h = units["rental-hub.service"];
    expect(values(h, "Service", "LoadCredential")).toEqual(["database-url:/etc/rental-hub/database-url"]);
    expect(values(h, "Service", "ExecStart")[0]).toContain("-database-url-file %d/database-url");
    expect(texts["rental-hub.service"]).not.toMatch(/^Environment=.*DATABASE_URL/m);
    expect(texts["rental-hub.service"]).not.toMatch(/postgres(ql)?:\/\//);
  });

  it("restart on failure, but not on a setting they refuse (exit 2), read their flags from an env file, and split them into words", () => {
    // The gateway shares the daemon's /etc folder and state dir (its socket, the SSH host key, the sftp helper).
    const expected = {
      "node-daemon.service": { args: "NODE_DAEMON_ARGS", env: "-/etc/node-daemon/node-daemon.env", state: "node-daemon" },
      "node-ssh-gateway.service": { args: "NODE_SSH_GATEWAY_ARGS", env: "-/etc/node-daemon/node-ssh-gateway.env", state: "node-daemon" },
      "rental-hub.service": { args: "RENTAL_HUB_ARGS", env: "-/etc/rental-hub/rental-hub.env", state: "rental-hub" },
    } as const;
    for (const name of Object.keys(UNITS) as UnitName[]) {
      const u = units[name];
      expect(values(u, "Service", "Restart"), name).toEqual(["on-failure"]);
      // A bad setting exits 2 (internal/cli/lifecycle.ts): restarting would only repeat it.
      expect(values(u, "Service", "RestartPreventExitStatus"), name).toEqual(["2"]);
      expect(values(u, "Service", "EnvironmentFile"), name).toEqual([expected[name].env]);
      // Unbraced $VAR as its own word is split at whitespace; "${VAR}" would be one argument.
      expect(values(u, "Service", "ExecStart")[0], name).toMatch(new RegExp(`\\s\\$${expected[name].args}$`));
      expect(values(u, "Service", "StateDirectory"), name).toEqual([expected[name].state]);
      expect(values(u, "Service", "ProtectSystem"), name).toEqual(["strict"]);
      // Node's JIT needs writable executable memory.
      expect(values(u, "Service", "MemoryDenyWriteExecute"), name).toEqual([]);
    }
  });

  it("stop the daemon alone on SIGTERM, start it after Docker, and keep it running when Docker stops", () => {
    const d = units["node-daemon.service"];
    expect(values(d, "Service", "KillMode")).toEqual(["process"]);
    // Requires= (or BindsTo=) would stop the daemon with Docker and take the node offline at the hub.
    expect([...values(d, "Unit", "Requires"), ...values(d, "Unit", "BindsTo")].join(" ")).not.toContain("docker.service");
    expect(values(d, "Unit", "Wants").join(" ").split(/\s+/)).toContain("docker.service");
    expect(values(d, "Unit", "After").join(" ").split(/\s+/)).toContain("docker.service");
    expect(values(d, "Service", "SupplementaryGroups")).toEqual(["docker"]);
  });

  it("run renters' SSH sessions in node-ssh-gateway, which a restart of the daemon neither stops nor restarts", () => {
    const d = units["node-daemon.service"];
    const g = units["node-ssh-gateway.service"];
    const words = (u: UnitEntry[], section: string, key: string): string[] => values(u, section, key).join(" ").split(/\s+/).filter(Boolean);
    expect(values(d, "Service", "ExecStart")[0]).toContain(" -ssh-gateway external ");
    // Started with the daemon and before it (the daemon connects to its socket at start)...
    expect(words(d, "Unit", "Wants")).toContain("node-ssh-gateway.service");
    expect(words(d, "Unit", "After")).toContain("node-ssh-gateway.service");
    // ...but bound to it in no way that would stop or restart it with the daemon.
    for (const [u, other] of [[d, "node-ssh-gateway.service"], [g, "node-daemon.service"]] as const) {
      for (const key of ["Requires", "BindsTo", "PartOf", "Requisite", "PropagatesReloadTo", "ReloadPropagatedFrom", "PropagatesStopTo", "StopPropagatedFrom"]) {
        expect(words(u, "Unit", key), key).not.toContain(other);
      }
    }
    // The daemon's user (the socket is owner-only), the docker group (sessions are docker exec), no capability.
    expect(values(g, "Service", "User")).toEqual(values(d, "Service", "User"));
    expect(values(g, "Service", "SupplementaryGroups")).toEqual(["docker"]);
    expect(values(g, "Service", "CapabilityBoundingSet")).toEqual([""]);
    expect(words(g, "Unit", "After")).toContain("docker.service");
    expect(words(g, "Unit", "Requires")).not.toContain("docker.service");
  });

  it("let the daemon do what it must: netlink (interface list), GPU devices, the mining folder, the rentals' firewall", () => {
    const d = units["node-daemon.service"];
    // Without AF_NETLINK os.networkInterfaces() throws (EAFNOSUPPORT) and the daemon cannot pick its -host.
    expect(values(d, "Service", "RestrictAddressFamilies").join(" ").split(/\s+/)).toEqual(expect.arrayContaining(["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"]));
    // Each hides /dev/nvidia* (ProtectClock implies a device allow-list).
    for (const key of ["PrivateDevices", "DevicePolicy", "DeviceAllow", "ProtectClock", "ProcSubset"]) {
      expect(values(d, "Service", key), key).toEqual([]);
    }
    const writable = values(d, "Service", "ReadWritePaths").join(" ").split(/\s+/).map((p) => p.replace(/^-/, ""));
    expect(writable).toContain(defaultDaemonOptions.miningDataDir);
    // CAP_NET_ADMIN and nothing else (firewall.test.ts checks it is enough for the rules, as a non-root user).
    expect(values(d, "Service", "CapabilityBoundingSet")).toEqual(["CAP_NET_ADMIN"]);
    expect(values(d, "Service", "AmbientCapabilities")).toEqual(["CAP_NET_ADMIN"]);
  });
});

describe("systemd units for signed updates (node-daemon-update.service and .timer)", () => {
  let dir: string;
  const read = (name: string) => readFile(join(REPO, "systemd", name), "utf8");

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "update-units-"));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("pass systemd-analyze verify", async () => {
    const standIn = join(dir, "stand-in");
    await writeFile(standIn, "#!/bin/sh\nexit 0\n");
    await chmod(standIn, 0o755);
    await writeFile(join(dir, "node-daemon.service"), `[Unit]\nDescription=stand-in\n\n[Service]\nExecStart=${standIn}\n`);
    const service = (await read("node-daemon-update.service")).replace(/^ExecStart=\/usr\/bin\/node-daemon(?= )/m, `ExecStart=${standIn}`);
    await writeFile(join(dir, "node-daemon-update.service"), service);
    await writeFile(join(dir, "node-daemon-update.timer"), await read("node-daemon-update.timer"));
    const r = await systemdAnalyze(["verify", "--man=no", join(dir, "node-daemon-update.service"), join(dir, "node-daemon-update.timer")]);
    const ours = `${r.stdout}\n${r.stderr}`.split("\n").filter((l) => l.includes(dir) || l.includes("node-daemon-update"));
    expect(ours, r.stderr).toEqual([]);
    expect(r.code, r.stderr).toBe(0);
  });

  it("run node-daemon update as root with the daemon's own flags, at start and every 24 h once enabled, and let the daemon confirm an update", async () => {
    const u = parseUnit(await read("node-daemon-update.service"));
    expect(values(u, "Service", "Type")).toEqual(["oneshot"]);
    expect(values(u, "Service", "User")).toEqual(["root"]);
    expect(values(u, "Service", "EnvironmentFile")).toEqual(["-/etc/node-daemon/node-daemon.env"]);
    expect(values(u, "Service", "ExecStart")).toEqual(["/usr/bin/node-daemon update $NODE_DAEMON_ARGS"]);
    expect(values(u, "Unit", "ConditionPathIsSymbolicLink")).toEqual([`${defaultDaemonOptions.installRoot}/current`]);
    const t = parseUnit(await read("node-daemon-update.timer"));
    expect(values(t, "Timer", "OnUnitActiveSec")).toEqual(["24h"]);
    expect(values(t, "Timer", "OnActiveSec")).toEqual(["2min"]);
    expect(values(t, "Install", "WantedBy")).toEqual(["timers.target"]);
    // The daemon writes updates/ (pending.json) and nothing else of the install root.
    const d = parseUnit(await readFile(join(REPO, "systemd", "node-daemon.service"), "utf8"));
    const writable = values(d, "Service", "ReadWritePaths").join(" ").split(/\s+/).map((p) => p.replace(/^-/, ""));
    expect(writable).toContain(`${defaultDaemonOptions.installRoot}/updates`);
    expect(writable).not.toContain(defaultDaemonOptions.installRoot);
  });
});
