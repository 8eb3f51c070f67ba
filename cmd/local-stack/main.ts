#!/usr/bin/env node
// `npm start`: a local hub and one daemon on loopback with throwaway state, for a first look.
// `npm start -- -chain`: the same with paid rentals on a local chain (anvil, the escrow, funded dev wallets).
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { LocalStack } from "../../internal/localstack/local-stack.js";

const dist = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const stack = new LocalStack({
  dir: resolve(process.cwd(), ".local-stack"),
  hubScript: join(dist, "cmd/rental-hub/main.js"),
  daemonScript: join(dist, "cmd/node-daemon/main.js"),
  print: (line) => console.log(line),
  chain: process.argv.slice(2).some((a) => a === "-chain" || a === "--chain"),
});

let stopping = false;
const stop = async (code: number): Promise<never> => {
  stopping = true;
  console.log("stopping the daemon, then the hub ...");
  await stack.stop();
  console.log("stopped.");
  process.exit(code);
};
process.on("SIGINT", () => void (stopping ? process.exit(130) : stop(0)));
process.on("SIGTERM", () => void (stopping ? process.exit(143) : stop(0)));

try {
  await stack.start();
  console.log("running: Ctrl-C stops both");
  const first = await stack.firstExit();
  if (!stopping) {
    console.error(`${first.who} exited unexpectedly (code ${first.code})`);
    await stop(1);
  }
} catch (err) {
  console.error(`local stack failed: ${(err as Error).message}`);
  await stop(1);
}
