// `npm run docs:config`: the README's configuration tables, generated from the flag tables.
//   node dist/cmd/config-docs/main.js            prints them (Markdown)
//   node dist/cmd/config-docs/main.js README.md  writes them between the config-table markers
import { readFile, writeFile } from "node:fs/promises";
import { configDocs, withConfigDocs } from "../../internal/cli/config-docs.js";

const target = process.argv[2];
if (!target) {
  process.stdout.write(`${configDocs()}\n`);
} else {
  const before = await readFile(target, "utf8");
  const after = withConfigDocs(before);
  if (after !== before) await writeFile(target, after);
  process.stdout.write(after === before ? `${target}: configuration tables already current\n` : `${target}: configuration tables updated\n`);
}
