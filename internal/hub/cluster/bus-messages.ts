import type { PullView } from "../../hubapi/rentals.js";
import type { NodePresence } from "../presence.js";

/** What replicas tell each other; each is small (a NOTIFY carries at most 8000 bytes). */
export type BusMessage =
  /** This replica holds the node's stream now (the latest stream wins). */
  | { t: "owner"; node: string }
  /** The node's stream opened or closed, or it started or stopped draining, at its owner. */
  | { t: "link"; node: string; connected: boolean; draining: boolean }
  | { t: "presence"; node: string; status: NodePresence }
  /** A heartbeat as its owner received it: the proto, base64. */
  | { t: "hb"; node: string; at: number; hb: string }
  /** The rental's record changed (read it from the store), or its pull moved on. */
  | { t: "rental"; id: string; pull?: PullView }
  /** A request for a node's owner waits in node_requests. */
  | { t: "req"; id: string; to: string }
  /** Its answer is written. */
  | { t: "ans"; id: string; to: string };
