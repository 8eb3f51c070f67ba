import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import ssh2 from "ssh2";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateHostKey, loadOrCreateHostKey } from "./host-key.js";

/** A key ssh2 1.17's generateKeyPair("ed25519") made: its public key lost a leading zero byte (31 bytes, not 32). */
const MALFORMED_BY_SSH2 = `-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMgAAAAtz
c2gtZWQyNTUxOQAAAB+/6JMKYb2j1g3QUn4Nj3is4E01cV4qk6YdaztRUgBNAAAA
mGmJAkhpiQJIAAAAC3NzaC1lZDI1NTE5AAAAH7/okwphvaPWDdBSfg2PeKzgTTVx
XiqTph1rO1FSAE0AAAA/2FHAcyWjbV2SCZwnc+jF/R9qqiGCVkNig0uJrprGzEe/
6JMKYb2j1g3QUn4Nj3is4E01cV4qk6YdaztRUgBNAAAAE2dwdW5vZGUtc3NoLWdh
dGV3YXkBAgME
-----END OPENSSH PRIVATE KEY-----
`;

const quietLogger = pino({ level: "silent" });

/** The same malformed key with another comment: what a key someone else made looks like to us. */
function withComment(pem: string, from: string, to: string): string {
  const body = Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
  const at = body.indexOf(from);
  Buffer.from(to).copy(body, at);
  const lines = body.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

describe("the SSH host key", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "host-key-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("is always one ssh2 can read (ssh2 alone makes an unreadable one about 1 time in 250)", async () => {
    for (let i = 0; i < 5_000; i++) expect(ssh2.utils.parseKey(await generateHostKey())).not.toBeInstanceOf(Error);
  });

  it("is made once and kept: the same key on every load", async () => {
    const path = join(dir, "ssh_host_ed25519_key");
    const first = await loadOrCreateHostKey(path, quietLogger);
    expect(await loadOrCreateHostKey(path, quietLogger)).toEqual(first);
    expect(await readFile(path, "utf8")).toBe(first.privateKey);
  });

  it("replaces an unreadable key an earlier version made, which no renter can have pinned", async () => {
    expect(ssh2.utils.parseKey(MALFORMED_BY_SSH2)).toBeInstanceOf(Error);
    const path = join(dir, "ssh_host_ed25519_key");
    await writeFile(path, MALFORMED_BY_SSH2, { mode: 0o600 });
    const key = await loadOrCreateHostKey(path, quietLogger);
    expect(key.fingerprint).toMatch(/^SHA256:/);
    expect(await readFile(path, "utf8")).toBe(key.privateKey);
  });

  it("refuses, and keeps, an unreadable key it did not make", async () => {
    const path = join(dir, "ssh_host_ed25519_key");
    const foreign = withComment(MALFORMED_BY_SSH2, "gpunode-ssh-gateway", "someone-else-s-key!");
    expect(foreign).not.toBe(MALFORMED_BY_SSH2);
    await writeFile(path, foreign, { mode: 0o600 });
    await expect(loadOrCreateHostKey(path, quietLogger)).rejects.toMatchObject({ code: "host_key", message: expect.stringContaining("is not a private key ssh2 can read") as unknown });
    expect(await readFile(path, "utf8")).toBe(foreign);
  });
});
