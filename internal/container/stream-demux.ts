import { PassThrough, Writable, pipeline, type Readable } from "node:stream";

/**
 * Without a TTY the engine multiplexes stdout and stderr on one stream as frames:
 * 8-byte header [stream type, 0, 0, 0, payload length as uint32 BE], then the payload.
 * Stream type 1 is stdout, 2 is stderr.
 */
const HEADER_BYTES = 8;
const STDERR = 2;

export interface Demuxed {
  stdout: PassThrough;
  stderr: PassThrough;
}

/**
 * Splits `source` into stdout and stderr with backpressure: reading from `source` pauses while
 * either output is full, so read both (an SSH bridge does). Both end when `source` ends; an error
 * on `source` destroys both with it.
 */
export function demuxStream(source: Readable): Demuxed {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let pending: Buffer = Buffer.alloc(0);

  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      const full = new Set<PassThrough>();
      for (;;) {
        const frame = nextFrame(pending);
        if (!frame) break;
        pending = frame.rest;
        const target = frame.type === STDERR ? stderr : stdout;
        if (!target.write(frame.payload)) full.add(target);
      }
      if (full.size === 0) return done();
      let waiting = full.size;
      for (const t of full) {
        const go = (): void => {
          t.off("drain", go).off("close", go);
          if (--waiting === 0) done();
        };
        // A consumer that closes an output must not stall the other one forever.
        t.once("drain", go).once("close", go);
      }
    },
    final(done) {
      stdout.end();
      stderr.end();
      done();
    },
  });

  pipeline(source, sink, (err) => {
    if (err) {
      stdout.destroy(err);
      stderr.destroy(err);
    }
  });
  return { stdout, stderr };
}

/** Demultiplexes a whole buffer (a finished log read) into one string, frames in their order. */
export function demuxBuffer(buf: Buffer): string {
  const parts: Buffer[] = [];
  let rest = buf;
  for (;;) {
    const frame = nextFrame(rest);
    if (!frame) break;
    parts.push(frame.payload);
    rest = frame.rest;
  }
  return Buffer.concat(parts).toString("utf8");
}

function nextFrame(buf: Buffer): { type: number; payload: Buffer; rest: Buffer } | undefined {
  if (buf.length < HEADER_BYTES) return undefined;
  const length = buf.readUInt32BE(4);
  if (buf.length < HEADER_BYTES + length) return undefined;
  return {
    type: buf.readUInt8(0),
    payload: buf.subarray(HEADER_BYTES, HEADER_BYTES + length),
    rest: buf.subarray(HEADER_BYTES + length),
  };
}
