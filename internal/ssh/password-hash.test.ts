import { describe, expect, it } from "vitest";
import { hashPassword, isPasswordHash, MAX_PASSWORD_BYTES, verifyPassword } from "./password-hash.js";

describe("password hashes", () => {
  it("verifies the right password and refuses a wrong one", async () => {
    const hash = await hashPassword("correct horse");
    expect(hash).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
    expect(hash).not.toContain("correct horse");
    expect(await verifyPassword("correct horse", hash)).toBe(true);
    expect(await verifyPassword("correct horsE", hash)).toBe(false);
    expect(await verifyPassword("", hash)).toBe(false);
    expect(await verifyPassword("x".repeat(MAX_PASSWORD_BYTES + 1), hash)).toBe(false);
  });

  it("salts every hash", async () => {
    expect(await hashPassword("same")).not.toBe(await hashPassword("same"));
  });

  it("refuses to hash an empty password", async () => {
    await expect(hashPassword("")).rejects.toThrow(/empty/);
  });

  it.each([
    ["not ours", "bcrypt$2b$10$abc"],
    ["too few parts", "scrypt$16384$8$1$c2FsdHNhbHQ="],
    ["N not a power of two", "scrypt$1000$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA=="],
    ["memory out of bounds", "scrypt$1048576$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA=="],
    ["short salt", "scrypt$16384$8$1$c2E=$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA=="],
    ["not base64", "scrypt$16384$8$1$!!!!$aGFzaA=="],
  ])("rejects a malformed hash: %s", async (_name, hash) => {
    expect(isPasswordHash(hash)).toBe(false);
    await expect(verifyPassword("pw", hash)).rejects.toThrow(/password hash/);
  });
});
