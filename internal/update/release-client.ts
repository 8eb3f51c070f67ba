import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import http from "node:http";
import https from "node:https";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { z } from "zod";
import { type HttpTarget, requestJson } from "../httpclient/json-client.js";
import { ReleaseError } from "../release/errors.js";
import { type SignedRelease, signedReleaseSchema } from "../release/manifest.js";

const listSchema = z.object({ recommended: z.string().nullable(), releases: z.array(z.object({ manifest: z.object({ version: z.string() }) })) });

/** The hub's release API (GET /v1/releases...), as node-daemon update reads it. Nothing it answers is trusted before the signature is checked. */
export class ReleaseClient {
  constructor(
    private readonly hub: HttpTarget,
    private readonly signal?: AbortSignal,
  ) {}

  async recommended(): Promise<{ recommended: string | null; versions: string[] }> {
    const list = listSchema.parse(await requestJson(this.hub, "GET", "/v1/releases", { signal: this.signal }));
    return { recommended: list.recommended, versions: list.releases.map((r) => r.manifest.version) };
  }

  async release(version: string): Promise<SignedRelease> {
    const body = await requestJson(this.hub, "GET", `/v1/releases/${encodeURIComponent(version)}`, { signal: this.signal }).catch((err: unknown) => {
      if ((err as { status?: number }).status === 404) throw new ReleaseError("unknown_release", `the hub has no release ${version}`);
      throw err;
    });
    const parsed = signedReleaseSchema.safeParse(body);
    if (!parsed.success) throw new ReleaseError("bad_signature", `the hub's release ${version} is not a signed release manifest`);
    return parsed.data;
  }

  /** Downloads the archive to `file`, at most `maxBytes` (the signed size), hashing as it goes. */
  download(version: string, file: string, maxBytes: number): Promise<{ sha256: string; size: number }> {
    const url = new URL(`/v1/releases/${encodeURIComponent(version)}/archive`, this.hub.baseUrl);
    const transport = url.protocol === "https:" ? https : http;
    const signal = AbortSignal.any([...(this.signal ? [this.signal] : []), AbortSignal.timeout(10 * 60_000)]);
    return new Promise((resolve, reject) => {
      const req = transport.get(url, { signal, ...(url.protocol === "https:" ? { ca: this.hub.ca, rejectUnauthorized: !this.hub.unverified } : {}) }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new ReleaseError("unknown_release", `GET ${url.pathname}: ${res.statusCode} ${res.statusMessage ?? ""}`.trim()));
        }
        const hash = createHash("sha256");
        let size = 0;
        const count = new Transform({
          transform(chunk: Buffer, _enc, done) {
            size += chunk.length;
            if (size > maxBytes) return done(new ReleaseError("tampered", `refusing release ${version}: the archive downloaded is not the one that was signed (it is larger than the ${maxBytes} bytes the signed manifest names)`));
            hash.update(chunk);
            done(null, chunk);
          },
        });
        pipeline(res, count, createWriteStream(file, { mode: 0o600 })).then(() => resolve({ sha256: hash.digest("hex"), size }), reject);
      });
      req.on("error", reject);
    });
  }
}
