import { createReadStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { getRelease, getReleaseArchive, listReleases } from "../../hubapi/releases.js";
import type { ReleaseCatalog } from "../releases/release-store.js";
import { notFound } from "./api-error.js";
import type { Router } from "./router.js";

/** The node-daemon releases `rental-hub release add` published: public, since nodes trust the signatures, not the hub. */
export function addReleaseRoutes(router: Router, deps: { releases: ReleaseCatalog }): void {
  const { releases } = deps;
  const unknown = (version: string) => notFound("unknown_release", `no release ${version} on this hub (GET /v1/releases lists them)`);

  router.on(listReleases, async () => ({ recommended: releases.recommended(true), releases: await releases.list() }));

  router.on(getRelease, async ({ params }) => {
    const release = await releases.get(params.version);
    if (!release) throw unknown(params.version);
    return release;
  });

  router.on(getReleaseArchive, async ({ params, res }) => {
    const archive = await releases.archive(params.version);
    if (!archive) throw unknown(params.version);
    res.writeHead(200, {
      "content-type": "application/gzip",
      "content-length": archive.size,
      "content-disposition": `attachment; filename="${archive.release.manifest.file}"`,
      "x-release-sha256": archive.release.manifest.sha256,
    });
    await pipeline(createReadStream(archive.path), res);
    return undefined;
  });
}
