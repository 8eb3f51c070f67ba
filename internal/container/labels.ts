/**
 * Labels are the truth about our containers after a daemon restart: every workload carries what it
 * is and whose it is, so the supervisor can list and adopt them without a local database.
 */
export const LABEL_PREFIX = "io.gpunode.";

export const LABELS = {
  kind: `${LABEL_PREFIX}kind`,
  rentalId: `${LABEL_PREFIX}rental-id`,
  nodeId: `${LABEL_PREFIX}node-id`,
  /** Comma list, as handed to the engine. */
  gpuIds: `${LABEL_PREFIX}gpu-ids`,
} as const;

export type WorkloadKind = "rental" | "miner";

export type WorkloadLabels =
  | { kind: "rental"; rentalId: string; nodeId: string; gpuIds: string[] }
  | { kind: "miner"; nodeId: string; gpuIds: string[] };

export function workloadLabels(w: WorkloadLabels): Record<string, string> {
  const labels: Record<string, string> = {
    [LABELS.kind]: w.kind,
    [LABELS.nodeId]: w.nodeId,
    [LABELS.gpuIds]: w.gpuIds.join(","),
  };
  if (w.kind === "rental") labels[LABELS.rentalId] = w.rentalId;
  return labels;
}

/**
 * Our workload described by `labels`, or undefined for anything else: containers someone else
 * runs on the host, and ours with labels we cannot make sense of (never adopt what we misread).
 */
export function parseWorkloadLabels(labels: Record<string, string> | undefined): WorkloadLabels | undefined {
  if (!labels) return undefined;
  const kind = labels[LABELS.kind];
  const nodeId = labels[LABELS.nodeId];
  const gpuList = labels[LABELS.gpuIds];
  if (!nodeId || gpuList === undefined) return undefined;
  const gpuIds = gpuList === "" ? [] : gpuList.split(",");
  if (gpuIds.some((id) => id.trim() === "" || id.trim() !== id)) return undefined;
  switch (kind) {
    case "rental": {
      const rentalId = labels[LABELS.rentalId];
      return rentalId ? { kind, rentalId, nodeId, gpuIds } : undefined;
    }
    case "miner":
      return { kind, nodeId, gpuIds };
    default:
      return undefined;
  }
}

/** A list() filter matching every workload of one node, or one kind of them. */
export function workloadFilter(nodeId: string, kind?: WorkloadKind): Record<string, string | true> {
  return kind ? { [LABELS.nodeId]: nodeId, [LABELS.kind]: kind } : { [LABELS.nodeId]: nodeId, [LABELS.kind]: true };
}
