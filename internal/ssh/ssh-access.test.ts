import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SshGatewayError } from "./errors.js";
import { hashPassword } from "./password-hash.js";
import { parseAuthorizedKeys, resolveAccess } from "./ssh-access.js";

const dir = mkdtempSync(join(tmpdir(), "gpunode-ssh-access-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A real key pair from ssh-keygen: [public line, fingerprint as ssh-keygen prints it]. */
let keys = 0;
function keygen(type: string, bits?: number): [string, string] {
  const path = join(dir, `key-${++keys}`);
  execFileSync("ssh-keygen", ["-q", "-t", type, ...(bits ? ["-b", String(bits)] : []), "-N", "", "-C", "me@laptop", "-f", path]);
  const fp = execFileSync("ssh-keygen", ["-l", "-f", `${path}.pub`], { encoding: "utf8" }).split(" ")[1] ?? "";
  return [readFileSync(`${path}.pub`, "utf8").trim(), fp];
}

describe("parseAuthorizedKeys", () => {
  it.each([["ed25519"], ["ecdsa", 256], ["ecdsa", 521], ["rsa", 2048]] as Array<[string, number?]>)("reads %s keys with OpenSSH's fingerprint", (type, bits) => {
    const [line, fp] = keygen(type, bits);
    const [key] = parseAuthorizedKeys([line]);
    expect(key?.fingerprint).toBe(fp);
  });

  it("skips blank lines and comments, and splits multi-line entries", () => {
    const [a] = keygen("ed25519");
    const [b] = keygen("ecdsa", 384);
    expect(parseAuthorizedKeys([`# laptop\n${a}\n\n`, b])).toHaveLength(2);
  });

  it.each([
    ["an options prefix", 'from="10.0.0.1" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA'],
    ["DSA", "ssh-dss AAAAB3NzaC1kc3MAAACBAP"],
    ["a FIDO key", "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAI"],
    ["garbage data", "ssh-ed25519 bm90IGEga2V5"],
  ])("refuses %s with a message naming the line", (_what, line) => {
    expect(() => parseAuthorizedKeys(["", line])).toThrow(/authorized key 2/);
  });
});

describe("resolveAccess", () => {
  const base = { rentalId: "r1", containerId: "c1", authorizedKeys: [] as string[], user: "renter" };

  it("applies defaults", async () => {
    const [line] = keygen("ed25519");
    const a = resolveAccess({ ...base, authorizedKeys: [line], user: "" });
    expect(a).toMatchObject({ user: "renter", execUser: "root", keys: [expect.anything()] });
    expect(a.containerIp).toBeUndefined();
    const pw = resolveAccess({ ...base, passwordHash: await hashPassword("pw"), execUser: "1000:1000", containerIp: "172.17.0.9" });
    expect(pw).toMatchObject({ execUser: "1000:1000", containerIp: "172.17.0.9", keys: [] });
  });

  it.each([
    ["nobody could log in", {}],
    ["a malformed password hash", { passwordHash: "plaintext" }],
    ["a bad login name", { user: "bad name", passwordHash: undefined, authorizedKeys: ["ssh-ed25519 x"] }],
    ["a bad key", { authorizedKeys: ["ssh-ed25519 bm90IGEga2V5"] }],
    ["no container", { containerId: "", authorizedKeys: ["x"] }],
  ])("refuses %s", (_what, over) => {
    const err = (() => {
      try {
        resolveAccess({ ...base, ...over });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(SshGatewayError);
    expect((err as SshGatewayError).code).toBe("invalid_access");
  });
});
