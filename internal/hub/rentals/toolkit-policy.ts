import { compareVersions } from "../../gpu/container-toolkit.js";
import type { NodeRecord } from "../store/hub-store.js";

/** The NVIDIA Container Toolkit versions the hub places rentals on. */
export interface ToolkitPolicy {
  /** The oldest toolkit without a known container escape; "" turns the check off. */
  minimum: string;
  /** Nodes the operator allows anyway (-container-toolkit-exempt). */
  exempt: readonly string[];
}

/** 1.17.8 fixes CVE-2025-23266 ("NVIDIAScape"), after CVE-2024-0132 and its incomplete fix CVE-2025-23359. */
export const SAFE_CONTAINER_TOOLKIT = "1.17.8";

/**
 * Why the hub places no rental on the node, in words for the renter and the provider; null when it
 * may. A rental image can trigger an old toolkit's escape into the host, and from there reach other
 * renters' containers. A node without the toolkit (no NVIDIA runtime hook) has nothing to escape through.
 */
export function toolkitRefusal(node: Pick<NodeRecord, "id" | "versions">, policy: ToolkitPolicy): string | null {
  const version = node.versions.containerToolkit ?? "";
  if (!version || !policy.minimum || policy.exempt.includes(node.id)) return null;
  if (compareVersions(version, policy.minimum) >= 0) return null;
  return `its NVIDIA Container Toolkit ${version} is older than ${policy.minimum}, which fixes known container escapes (CVE-2024-0132, CVE-2025-23359, CVE-2025-23266): the provider must upgrade it`;
}
