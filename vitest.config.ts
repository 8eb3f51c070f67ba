import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["internal/**/*.test.ts", "cmd/**/*.test.ts", "test/**/*.test.ts"],
    exclude: ["node_modules/**", "dist/**"],
    // End-to-end tests start real processes and real TLS servers.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: keep process-heavy files from starving each other.
    maxWorkers: 2,
  },
});
