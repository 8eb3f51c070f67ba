import { createServer, type Server } from "node:net";

/** `count` neighbouring TCP ports, all listened on by this process until released. */
export interface HeldPorts {
  first: number;
  /** Stops holding `port` (one of the run), so the code under test can bind it. */
  release(port: number): Promise<void>;
  /** Releases every port still held. */
  releaseAll(): Promise<void>;
}

/**
 * Holds `count` neighbouring ports below the kernel's ephemeral range (32768 and up), where the
 * connections and `listen(0)` of tests running in parallel land: a port picked there can be taken
 * between a check and a bind, which made port-range tests flaky in CI.
 */
export async function holdPortRun(host: string, count: number): Promise<HeldPorts> {
  for (;;) {
    const first = 20_000 + Math.floor(Math.random() * 9_000);
    const held = new Map<number, Server>();
    for (let p = first; p < first + count; p++) {
      const s = await tryListen(host, p);
      if (!s) break;
      held.set(p, s);
    }
    const release = async (port: number): Promise<void> => {
      const s = held.get(port);
      held.delete(port);
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    };
    const releaseAll = async (): Promise<void> => {
      await Promise.all([...held.keys()].map(release));
    };
    if (held.size === count) return { first, release, releaseAll };
    await releaseAll();
  }
}

function tryListen(host: string, port: number): Promise<Server | undefined> {
  const s = createServer();
  return new Promise((resolve) => {
    s.once("error", () => resolve(undefined));
    s.listen(port, host, () => resolve(s));
  });
}
