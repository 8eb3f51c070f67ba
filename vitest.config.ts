import { defineConfig } from "vitest/config";

const shared = {
  // End-to-end tests start real processes and real TLS servers.
  testTimeout: 60_000,
  hookTimeout: 60_000,
};

export default defineConfig({
  test: {
    // Two cores: keep process-heavy files from starving each other.
    maxWorkers: 2,
    projects: [
      {
        test: {
          ...shared,
          name: "main",
          include: ["internal/**/*.test.ts", "cmd/**/*.test.ts", "test/**/*.test.ts"],
          exclude: ["node_modules/**", "dist/**", "**/*.exclusive.test.ts"],
          sequence: { groupOrder: 0 },
        },
      },
      {
        // The hub's tests again, on PostgreSQL instead of SQLite (the store's own suite covers both by itself).
        test: {
          ...shared,
          name: "hub-on-postgres",
          include: ["internal/hub/**/*.test.ts", "test/e2e/renter-api.test.ts"],
          exclude: ["internal/hub/store/**"],
          env: { HUB_TEST_STORE: "postgres" },
          sequence: { groupOrder: 0 },
        },
      },
      {
        // Tests that restart the Docker engine itself: alone, after everything else.
        test: {
          ...shared,
          name: "exclusive",
          include: ["test/**/*.exclusive.test.ts"],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
