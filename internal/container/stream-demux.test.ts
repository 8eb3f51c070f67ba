import { PassThrough, type Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { demuxBuffer, demuxStream } from "./stream-demux.js";

function frame(type: 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header.writeUInt8(type, 0);
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

function text(s: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on("data", (c: Buffer) => parts.push(c)).on("end", () => resolve(Buffer.concat(parts).toString())).on("error", reject);
  });
}

describe("demuxStream", () => {
  it("splits frames cut at any byte into stdout and stderr", async () => {
    const wire = Buffer.concat([frame(1, "out1 "), frame(2, "err1 "), frame(1, "out2"), frame(2, "")]);
    const source = new PassThrough();
    const { stdout, stderr } = demuxStream(source);
    const [out, err] = [text(stdout), text(stderr)];
    for (const byte of wire) source.write(Buffer.from([byte])); // worst case: one byte per chunk
    source.end();
    expect(await out).toBe("out1 out2");
    expect(await err).toBe("err1 ");
  });

  it("holds the source back while an output is full", async () => {
    const source = new PassThrough();
    const { stdout, stderr } = demuxStream(source);
    const big = "x".repeat(64 * 1024);
    for (let i = 0; i < 8; i++) source.write(frame(1, big));
    source.end();
    await new Promise((r) => setTimeout(r, 20));
    // Nobody reads stdout: only a bounded amount has left the source.
    expect(stdout.readableLength).toBeLessThan(8 * big.length);
    stderr.resume();
    expect((await text(stdout)).length).toBe(8 * big.length);
  });

  it("passes a source error to both outputs", async () => {
    const source = new PassThrough();
    const { stdout, stderr } = demuxStream(source);
    const [out, err] = [text(stdout), text(stderr)];
    source.destroy(new Error("connection reset"));
    await expect(out).rejects.toThrow("connection reset");
    await expect(err).rejects.toThrow("connection reset");
  });
});

describe("demuxBuffer", () => {
  it("joins the payloads in order, ignoring a torn last frame", () => {
    const buf = Buffer.concat([frame(1, "a\n"), frame(2, "b\n"), frame(1, "c\n").subarray(0, 9)]);
    expect(demuxBuffer(buf)).toBe("a\nb\n");
  });
});
