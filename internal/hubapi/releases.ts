import { z } from "zod";
import { dateTimeSchema } from "./common.js";
import { operation } from "./operation.js";
import { releaseManifestSchema } from "../release/manifest.js";

const manifestSchema = releaseManifestSchema.meta({
  id: "ReleaseManifest",
  description: "What a release's signature covers: format, name, version, archive file name, its SHA-256 and size (signed as compact JSON in this field order)",
});

export const releaseSchema = z
  .object({
    manifest: manifestSchema,
    signature: z.string().describe("Ed25519 signature over the manifest's canonical bytes, base64"),
    keyId: z.string().describe("ed25519: and 16 hex digits of the SHA-256 of the signing key's public key (a hint: nodes check the signature against their own key)"),
    publishedAt: dateTimeSchema,
  })
  .meta({ id: "Release", description: "A published node-daemon release: its signed manifest" });

export const releaseVersionParams = z.object({ version: z.string().max(64).meta({ examples: ["0.2.0"] }) });

export const listReleases = operation({
  method: "GET",
  path: "/v1/releases",
  operationId: "listReleases",
  tags: ["releases"],
  summary: "The node-daemon releases this hub serves, newest first, and the version nodes are told to run",
  description: "Public: archives are not secret; each node checks a release's signature against its own -release-public-key-file before it installs anything.",
  security: "none",
  reply: {
    status: 200,
    description: "Releases",
    schema: z.object({
      recommended: z.string().nullable().describe("the version nodes should run (rental-hub release add --recommend, release recommend); null when none"),
      releases: z.array(releaseSchema),
    }),
  },
});

export const getRelease = operation({
  method: "GET",
  path: "/v1/releases/{version}",
  operationId: "getRelease",
  tags: ["releases"],
  summary: "One release's signed manifest",
  security: "none",
  params: releaseVersionParams,
  reply: { status: 200, description: "The release", schema: releaseSchema },
  errors: { 404: "unknown_release" },
});

export const getReleaseArchive = operation({
  method: "GET",
  path: "/v1/releases/{version}/archive",
  operationId: "getReleaseArchive",
  tags: ["releases"],
  summary: "One release's archive (npm pack output), as signed",
  security: "none",
  params: releaseVersionParams,
  reply: { status: 200, description: "The gzip'd tar", content: { "application/gzip": z.string().meta({ format: "binary" }) }, headers: { "x-release-sha256": { description: "the archive's SHA-256 as the manifest names it (check the signed manifest, not this)" } } },
  errors: { 404: "unknown_release" },
});
