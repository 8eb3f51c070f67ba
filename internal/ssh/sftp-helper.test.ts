import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SshGatewayError } from "./errors.js";
import { parseLdd, prepareSftpHelper, readSftpHelper, SFTP_MOUNT_POINT } from "./sftp-helper.js";

const dir = mkdtempSync(join(tmpdir(), "gpunode-sftp-helper-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("parseLdd", () => {
  it("reads glibc's output", () => {
    const out = [
      "\tlinux-vdso.so.1 (0x00007ffd5a1f0000)",
      "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0e2a000000)",
      "\t/lib64/ld-linux-x86-64.so.2 (0x00007f0e2a3c2000)",
    ].join("\n");
    expect(parseLdd(out, "sftp-server")).toEqual({
      loader: "/lib64/ld-linux-x86-64.so.2",
      libraries: [{ name: "libc.so.6", path: "/lib/x86_64-linux-gnu/libc.so.6" }],
    });
  });

  it("reads musl's output and the loader-with-arrow form", () => {
    const musl = "\t/lib/ld-musl-x86_64.so.1 (0x7f1)\n\tlibc.musl-x86_64.so.1 => /lib/ld-musl-x86_64.so.1 (0x7f1)\n";
    expect(parseLdd(musl, "x")).toEqual({ loader: "/lib/ld-musl-x86_64.so.1", libraries: [{ name: "libc.musl-x86_64.so.1", path: "/lib/ld-musl-x86_64.so.1" }] });
    const arrow = "\tlibc.so.6 => /lib64/libc.so.6 (0x1)\n\t/lib64/ld-linux-x86-64.so.2 => /usr/lib64/ld-linux-x86-64.so.2 (0x2)\n";
    expect(parseLdd(arrow, "x").loader).toBe("/usr/lib64/ld-linux-x86-64.so.2");
  });

  it("names a missing library", () => {
    expect(() => parseLdd("\tlibfoo.so.1 => not found\n", "sftp-server")).toThrow(/needs libfoo.so.1/);
  });
});

describe("prepareSftpHelper", () => {
  it("bundles the host's sftp-server with its loader and libc, runnable by the loader", async () => {
    const helper = await prepareSftpHelper(dir);
    expect(helper.mountPoint).toBe(SFTP_MOUNT_POINT);
    expect(helper.command[0]).toMatch(new RegExp(`^${SFTP_MOUNT_POINT}/lib/ld-`));
    expect(helper.command.slice(1)).toEqual(["--library-path", `${SFTP_MOUNT_POINT}/lib`, `${SFTP_MOUNT_POINT}/sftp-server`]);
    expect(await readSftpHelper(dir)).toEqual(helper);
    expect(statSync(join(dir, "sftp-server")).mode & 0o777).toBe(0o755);
    expect(statSync(dir).mode & 0o777).toBe(0o755);
    // Run from the bundle on the host, the way containers run it: it answers -h with its usage.
    const hostCmd = helper.command.map((p) => p.replace(SFTP_MOUNT_POINT, dir));
    let usage = "";
    try {
      execFileSync(hostCmd[0] ?? "", [...hostCmd.slice(1), "-h"], { encoding: "utf8", stdio: "pipe" });
    } catch (err) {
      usage = String((err as { stderr?: string }).stderr);
    }
    expect(usage).toMatch(/usage: sftp-server/);
    // A second run replaces the files in place (containers keep their bind mount).
    await prepareSftpHelper(dir);
  });

  it("names the Debian package when sftp-server is missing", async () => {
    const err = await prepareSftpHelper(join(dir, "other"), { candidates: ["/nonexistent/sftp-server"] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshGatewayError);
    expect((err as Error).message).toMatch(/openssh-sftp-server/);
  });

  it("says when no bundle was prepared", async () => {
    await expect(readSftpHelper(join(dir, "empty"))).rejects.toThrow(/run prepareSftpHelper first/);
  });
});
