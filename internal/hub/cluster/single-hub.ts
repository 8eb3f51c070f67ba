import { hostname } from "node:os";
import type { Logger } from "pino";
import type { LeaseStore } from "../store/lease-store.js";
import { holderProcess, Lease, processAlive, ReplicaError } from "./lease.js";

/**
 * SQLite serves one hub: the hub holds the "sqlite-hub" lease while it runs. A second hub on the
 * same file is refused with the holder's name; a holder on this machine whose process is gone (a
 * crash, SIGKILL) is taken over at once, so a restart is never kept waiting for the lease to expire.
 */
export async function holdSingleHub(file: string, deps: { store: LeaseStore; logger: Logger }): Promise<Lease> {
  const lease = new Lease({ name: "sqlite-hub", ttlMs: 15_000, renewMs: 5_000 }, deps);
  let state = await lease.tryOnce();
  if (state.holder !== lease.holder) {
    const other = holderProcess(state.holder);
    const dead = other !== undefined && other.host === hostname() && !processAlive(other.pid);
    if (dead) state = await lease.tryOnce(true);
    if (state.holder !== lease.holder) {
      throw new ReplicaError(
        `another rental-hub (${state.holder}) uses the SQLite database ${file}: SQLite serves one hub. Stop that one, give this one another -data-dir, or run replicas on PostgreSQL (-database-url)`,
      );
    }
  }
  lease.start();
  return lease;
}
