import type { CreateRental } from "./rental-book.js";

/** What one replica asks the replica that owns a node to do with that node's rentals. */
export type BookRequest =
  | { op: "place"; renter: string; input: CreateRental }
  | { op: "stop"; id: string; reason: string }
  | { op: "logs"; id: string; tail: number }
  | { op: "remove"; id: string }
  | { op: "startPaid"; id: string; paidSeconds: number }
  | { op: "refusePayment"; id: string; reason: string }
  | { op: "extendPaid"; id: string; paidSeconds: number };

/**
 * Which replica runs a node's rentals. Absent (one hub): this one runs all of them. With replicas,
 * the owner alone starts, stops and limits a node's rentals; every other replica asks it.
 */
export interface NodeOwners {
  owns(nodeId: string): boolean;
  /** The live replica that owns the node, when it is not this one; undefined: run it here. */
  remoteOwner(nodeId: string): Promise<string | undefined>;
  ask(replicaId: string, request: BookRequest, timeoutMs: number): Promise<unknown>;
}
