import { ACTIVE_STATUSES, type HubRental } from "../store/rental-store.js";

/**
 * The active rentals, by id and by node, as last written: the book updates it on every write, so a
 * heartbeat compares the node's report with memory and touches the store only when something changed.
 */
export class ActiveRentals {
  private readonly byId = new Map<string, HubRental>();
  private readonly byNode = new Map<string, Set<string>>();

  /** Keeps an active rental, forgets an ended one. */
  put(r: HubRental): void {
    if (!ACTIVE_STATUSES.includes(r.status)) return this.forget(r.id);
    this.byId.set(r.id, r);
    const ids = this.byNode.get(r.nodeId) ?? new Set();
    ids.add(r.id);
    this.byNode.set(r.nodeId, ids);
  }

  get(id: string): HubRental | undefined {
    return this.byId.get(id);
  }

  onNode(nodeId: string): HubRental[] {
    return [...(this.byNode.get(nodeId) ?? [])].flatMap((id) => this.byId.get(id) ?? []);
  }

  private forget(id: string): void {
    const r = this.byId.get(id);
    if (!r) return;
    this.byId.delete(id);
    const ids = this.byNode.get(r.nodeId);
    ids?.delete(id);
    if (ids?.size === 0) this.byNode.delete(r.nodeId);
  }
}
