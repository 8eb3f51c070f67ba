import type { Command } from "commander";
import { action } from "./action.js";
import { usageError } from "./cli-error.js";
import { HubApi, type NodeView } from "./hub-api.js";
import { perGpuHour, table } from "./output.js";
import { SessionStore } from "./session-store.js";

interface NodesOptions {
  model?: string;
  minMemory?: string;
  maxPrice?: string;
  all?: boolean;
}

/** What a renter chooses by, for one node. */
export interface NodeRow {
  id: string;
  status: string;
  model: string;
  gpusFree: number;
  gpusTotal: number;
  memoryGiB: number;
  pricePerSecWei: string;
  pricePerGpuHourWei: string;
}

const FREE = new Set(["GPU_ACTIVITY_FREE", "GPU_ACTIVITY_MINING"]);

export function nodeRow(n: NodeView): NodeRow {
  const gpus = n.lastHeartbeat?.body?.gpus ?? [];
  const free = gpus.filter((g) => g.healthy && FREE.has(g.activity)).length;
  const models = [...new Set((gpus.length > 0 ? gpus.map((g) => g.name) : n.gpus.map((g) => g.name)).filter(Boolean))];
  const memory = Math.max(0, ...(gpus.length > 0 ? gpus.map((g) => g.memoryTotalBytes) : n.gpus.map((g) => Number(g.memoryTotalBytes))));
  return {
    id: n.id,
    status: n.status,
    model: models.join(", ") || "CPU only",
    gpusFree: free,
    gpusTotal: Math.max(gpus.length, n.gpus.length),
    memoryGiB: Math.round((memory / 1024 ** 3) * 10) / 10,
    pricePerSecWei: n.pricePerSecWei,
    pricePerGpuHourWei: (BigInt(n.pricePerSecWei) * 3600n).toString(),
  };
}

export function addNodeCommands(program: Command): void {
  program
    .command("nodes")
    .description("online nodes: GPU model, free/total GPUs, memory per GPU, price per GPU-hour (and per second in wei)")
    .option("--model <text>", "only GPUs whose model contains this (case-insensitive), e.g. h100")
    .option("--min-memory <GiB>", "only GPUs with at least this much memory")
    .option("--max-price <wei>", "only nodes at this price per second or less, in wei")
    .option("--all", "offline and draining nodes too")
    .addHelpText("after", "\nExamples:\n  gpu-rent nodes --model h100 --min-memory 80\n  gpu-rent nodes --max-price 50000000000000 --json | jq '.nodes[0].id'")
    .action(
      action<NodesOptions>(async ({ out, opts }) => {
        const minMemory = opts.minMemory === undefined ? 0 : Number(opts.minMemory);
        if (!Number.isFinite(minMemory) || minMemory < 0) throw usageError(`--min-memory ${opts.minMemory}: expected a number of GiB`);
        if (opts.maxPrice !== undefined && !/^\d{1,78}$/.test(opts.maxPrice)) throw usageError(`--max-price ${opts.maxPrice}: expected a whole number of wei per second`);
        const s = await new SessionStore().require();
        const { nodes } = await HubApi.of(s).call<{ nodes: NodeView[] }>("GET", "/v1/nodes");
        const model = opts.model?.toLowerCase();
        const rows = nodes
          .filter((n) => opts.all || n.status === "online")
          .map(nodeRow)
          .filter((r) => !model || r.model.toLowerCase().includes(model))
          .filter((r) => r.memoryGiB >= minMemory)
          .filter((r) => opts.maxPrice === undefined || BigInt(r.pricePerSecWei) <= BigInt(opts.maxPrice))
          .sort((a, b) => (BigInt(a.pricePerSecWei) < BigInt(b.pricePerSecWei) ? -1 : BigInt(a.pricePerSecWei) > BigInt(b.pricePerSecWei) ? 1 : b.gpusFree - a.gpusFree));
        if (out.json) return out.out(JSON.stringify({ nodes: rows }, null, 2));
        if (rows.length === 0) return out.out("no node matches");
        out.out(table(["NODE", "STATUS", "MODEL", "FREE", "MEMORY", "PRICE", "WEI/S"], rows.map((r) => [r.id, r.status, r.model, `${r.gpusFree}/${r.gpusTotal}`, `${r.memoryGiB} GiB`, perGpuHour(r.pricePerSecWei), r.pricePerSecWei])));
      }),
    );
}

