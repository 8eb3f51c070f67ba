/**
 * Preloaded into the daemon by bench/daemon-memory.ts (node --import): on SIGUSR2, one JSON line on
 * stderr with process.memoryUsage() and V8's heap spaces, the daemon's own view of its memory.
 */
import { getHeapSpaceStatistics } from "node:v8";

process.on("SIGUSR2", () => {
  const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size]));
  process.stderr.write(`${JSON.stringify({ level: 30, msg: "memory usage", ...process.memoryUsage(), spaces })}\n`);
});
