import type { Command } from "commander";
import { userMessage } from "../errors/app-error.js";

const stdio = { out: (t: string) => void process.stdout.write(t), err: (t: string) => void process.stderr.write(t) };

/**
 * `rental-hub release keygen|add|recommend|list`: the operator signs node-daemon releases and
 * publishes them under the hub's -data-dir (releases/), where every hub on that data dir serves
 * them at once (GET /v1/releases). The private key is read here and never leaves this process.
 */
export function addReleaseCommands(program: Command, dataDir: () => Promise<string>): Command {
  const release = program.command("release").description("sign and publish node-daemon releases (nodes verify them with the public key before installing)");
  const fail = (err: unknown): void => {
    const message = userMessage(err);
    if (message === undefined) throw err;
    stdio.err(`rental-hub release: ${message}\n`);
    process.exitCode = 1;
  };
  const store = async () => {
    const { releasesDir } = await import("../hub/releases/release-store.js");
    return releasesDir(await dataDir());
  };

  release
    .command("keygen")
    .description("make an Ed25519 release key pair: release.key (0600; keep it safe, ideally off the hub) and release.pub (give it to every node as -release-public-key-file)")
    .requiredOption("--out <dir>", "folder to write release.key and release.pub into (created 0700 if absent); an existing key is never overwritten")
    .action(async (o: { out: string }) => {
      try {
        const { generateReleaseKeys } = await import("../release/keys.js");
        const k = await generateReleaseKeys(o.out);
        stdio.out(`wrote ${k.privateKeyFile} (0600) and ${k.publicKeyFile}; key id ${k.keyId}\nnodes trust it with: -release-public-key-file /etc/node-daemon/release.pub (a copy of ${k.publicKeyFile})\n`);
      } catch (err) {
        fail(err);
      }
    });

  release
    .command("add")
    .description("sign an npm pack archive of this project with the release key and publish it (its version comes from its package.json)")
    .argument("<archive>", "gpu-node-daemon-<version>.tgz (npm pack)")
    .requiredOption("--key-file <path>", "the private release key (release.key from release keygen; mode 0600)")
    .option("--recommend", "also make it the version nodes are told to run")
    .addHelpText("after", "\nExample:\n  npm pack && rental-hub release add gpu-node-daemon-0.2.0.tgz --key-file ~/release-key/release.key --recommend -data-dir /var/lib/rental-hub")
    .action(async (archive: string, o: { keyFile: string; recommend?: boolean }) => {
      try {
        const [{ readReleasePrivateKey }, { publishRelease }] = await Promise.all([import("../release/keys.js"), import("../hub/releases/release-store.js")]);
        const key = await readReleasePrivateKey(o.keyFile);
        const { release: r, added } = await publishRelease(await store(), archive, key, { recommend: o.recommend === true });
        const m = r.manifest;
        stdio.out(`${added ? "published" : "already published:"} ${m.name} ${m.version} (${m.size} bytes, SHA-256 ${m.sha256}), signed by ${r.keyId}${o.recommend ? `; ${m.version} is now the recommended version` : ""}\n`);
      } catch (err) {
        fail(err);
      }
    });

  release
    .command("recommend")
    .description("make a published version the one nodes are told to run (the dashboard marks older nodes; nodes with updates on install it)")
    .argument("<version>")
    .action(async (version: string) => {
      try {
        const { recommendRelease } = await import("../hub/releases/release-store.js");
        await recommendRelease(await store(), version);
        stdio.out(`${version} is now the recommended node-daemon version\n`);
      } catch (err) {
        fail(err);
      }
    });

  release
    .command("list")
    .description("list published releases, newest first, and the recommended one")
    .option("--json", "as one JSON document (as GET /v1/releases answers)")
    .action(async (o: { json?: boolean }) => {
      const { ReleaseCatalog } = await import("../hub/releases/release-store.js");
      const catalog = new ReleaseCatalog(await store());
      const releases = await catalog.list();
      const recommended = catalog.recommended();
      if (o.json) return stdio.out(`${JSON.stringify({ recommended, releases }, null, 2)}\n`);
      for (const r of releases) stdio.out(`${r.manifest.version === recommended ? "*" : " "} ${r.manifest.version.padEnd(12)} ${r.publishedAt}  ${r.manifest.sha256.slice(0, 16)}…  ${r.keyId}\n`);
      if (releases.length === 0) stdio.out("no releases published (rental-hub release add ARCHIVE --key-file KEY)\n");
      else stdio.out(recommended ? `* recommended\n` : "none recommended (rental-hub release recommend VERSION)\n");
    });
  return program;
}
