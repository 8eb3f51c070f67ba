import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { CONFIG_TABLE_END, CONFIG_TABLE_START, configDocs, withConfigDocs } from "./config-docs.js";
import { envName, flagName } from "./flag-table.js";
import { NODE_DAEMON_ENV_PREFIX, nodeDaemonFlags, nodeDaemonProgram } from "./node-daemon-flags.js";
import { NODE_SSH_GATEWAY_ENV_PREFIX, nodeSshGatewayFlags, nodeSshGatewayProgram } from "./node-ssh-gateway-flags.js";
import { RENTAL_HUB_ENV_PREFIX, rentalHubFlags, rentalHubProgram } from "./rental-hub-flags.js";

describe("settings declared once", () => {
  it("README's configuration tables are what the flag tables say (run npm run docs:config after changing a flag)", async () => {
    const readme = await readFile("README.md", "utf8");
    expect(readme).toContain(CONFIG_TABLE_START);
    expect(readme).toContain(CONFIG_TABLE_END);
    expect(withConfigDocs(readme) === readme, "README.md's configuration tables are stale: run npm run docs:config").toBe(true);
  });

  it.each([
    ["node-daemon", nodeDaemonFlags, NODE_DAEMON_ENV_PREFIX, nodeDaemonProgram()],
    ["rental-hub", rentalHubFlags, RENTAL_HUB_ENV_PREFIX, rentalHubProgram()],
    ["node-ssh-gateway", nodeSshGatewayFlags, NODE_SSH_GATEWAY_ENV_PREFIX, nodeSshGatewayProgram()],
  ] as const)("%s: every setting is a flag in --help with its variable, and in the docs", (_name, table, prefix, program) => {
    const help = program.helpInformation();
    const docs = configDocs();
    for (const key of Object.keys(table)) {
      expect(help).toContain(`--${flagName(key)} `);
      expect(help).toContain(`$${envName(prefix, key)}`);
      expect(docs).toContain(`| \`-${flagName(key)}\` |`);
    }
    expect(envName(NODE_DAEMON_ENV_PREFIX, "privateKey")).toBe("NODE_DAEMON_PRIVATE_KEY");
    expect(envName(NODE_DAEMON_ENV_PREFIX, "nvmlLibrary")).toBe("NODE_DAEMON_NVML_LIBRARY");
  });
});
