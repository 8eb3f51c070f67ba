import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);
export const sh = (...args: string[]) => run(args[0] ?? "", args.slice(1));

export interface VethNamespace {
  /** Runs a command inside the namespace. */
  inNs(...args: string[]): ReturnType<typeof sh>;
  remove(): Promise<void>;
}

/**
 * A network namespace joined to the host by a veth pair: `hostAddr` on the host's end, `nsAddr` on the
 * namespace's (a /30 between them), loopback up inside. Programs started in it see only that link.
 */
export async function vethNamespace(o: { ns: string; hostIf: string; nsIf: string; hostAddr: string; nsAddr: string }): Promise<VethNamespace> {
  const inNs = (...args: string[]) => sh("ip", "netns", "exec", o.ns, ...args);
  await sh("ip", "netns", "add", o.ns);
  await sh("ip", "link", "add", o.hostIf, "type", "veth", "peer", "name", o.nsIf);
  await sh("ip", "link", "set", o.nsIf, "netns", o.ns);
  await sh("ip", "addr", "add", `${o.hostAddr}/30`, "dev", o.hostIf);
  await sh("ip", "link", "set", o.hostIf, "up");
  await inNs("ip", "addr", "add", `${o.nsAddr}/30`, "dev", o.nsIf);
  await inNs("ip", "link", "set", o.nsIf, "up");
  await inNs("ip", "link", "set", "lo", "up");
  return {
    inNs,
    remove: async () => {
      await sh("ip", "netns", "del", o.ns).catch(() => undefined);
      await sh("ip", "link", "del", o.hostIf).catch(() => undefined);
    },
  };
}
