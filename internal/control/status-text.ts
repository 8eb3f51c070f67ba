import { type GetStatusResponse, gpuActivityToJSON, type GpuStatus, minerStateToJSON, rentalStateToJSON } from "../proto/gen/gpunode/v1/gpunode.js";

/** `node-daemon status` for people: what the daemon answered, one fact a line, tables for GPUs, rentals, miners. */
export function formatStatus(s: GetStatusResponse, now = new Date()): string {
  const lines: string[] = [];
  const info = s.info;
  const field = (name: string, value: string): void => void lines.push(`${name.padEnd(13)}${value}`);

  field("node-daemon", `${info?.versions?.daemon ?? "?"}, up ${duration(s.uptimeSeconds * 1000)}`);
  field("node", s.nodeId || "(not registered yet)");
  if (s.certificateNotAfter) {
    const left = new Date(s.certificateNotAfter).getTime() - now.getTime();
    field("certificate", `valid until ${s.certificateNotAfter} (${left > 0 ? `in ${duration(left)}` : "EXPIRED"})`);
  }
  const last = s.lastHeartbeatAt ? `, last ${duration(now.getTime() - new Date(s.lastHeartbeatAt).getTime())} ago` : "";
  field("hub", `${s.hubAddress} ${s.hubConnected ? "connected" : "NOT CONNECTED"}; ${s.heartbeatsSent} heartbeats sent${last}; ${s.hubReconnects} reconnects`);
  field("draining", info?.draining ? "yes: takes no new rentals; running ones go on (node-daemon undrain lifts it)" : "no");
  if (info) field("offer", `${info.host} (node API port ${info.apiPort}), ${info.pricePerSecWei} wei/s per rental`);

  lines.push("", `GPUs (${s.gpus.length})`);
  if (s.gpus.length > 0) {
    lines.push(
      ...table(
        ["#", "MODEL", "STATE", "UTIL", "MEMORY", "TEMP", "POWER", "UUID"],
        s.gpus.map((g) => [String(g.index), g.name, gpuState(g), g.healthy ? `${g.utilizationGpuPercent}%` : "-", g.healthy ? memory(g) : "-", g.healthy ? `${g.temperatureCelsius}C` : "-", g.healthy ? power(g) : "-", g.uuid]),
      ),
    );
  }

  lines.push("", `rentals (${s.rentals.length})`);
  if (s.rentals.length > 0) {
    lines.push(
      ...table(
        ["RENTAL", "STATE", "GPUS", "IMAGE", "SINCE", "ACCESS"],
        s.rentals.map((r) => [r.rentalId, word(rentalStateToJSON(r.state), "RENTAL_STATE_") + (r.adopted ? " (adopted)" : ""), r.gpuIndices.join(",") || "-", r.image, r.startedAt || "-", r.ssh?.command ?? (r.reason || "-")]),
      ),
    );
  }

  lines.push("", `miners (${s.miners.length})`);
  if (s.miners.length > 0) {
    lines.push(...table(["GPU", "STATE", "RESTARTS", "LAST ERROR"], s.miners.map((m) => [String(m.gpuIndex), word(minerStateToJSON(m.state), "MINER_STATE_"), String(m.restarts), m.lastError || "-"])));
  }

  if (info && info.notices.length > 0) lines.push("", "notices", ...info.notices.map((n) => `  - ${n}`));
  return `${lines.join("\n")}\n`;
}

function gpuState(g: GpuStatus): string {
  const state = word(gpuActivityToJSON(g.activity), "GPU_ACTIVITY_");
  if (!g.healthy) return `unhealthy${g.error ? ` (${g.error})` : ""}`;
  return g.rentalId ? `${state} (${g.rentalId})` : state;
}

const GiB = 1024 ** 3;
const memory = (g: GpuStatus): string => `${(g.memoryUsedBytes / GiB).toFixed(1)}/${(g.memoryTotalBytes / GiB).toFixed(1)} GiB`;
const power = (g: GpuStatus): string => `${Math.round(g.powerDrawMilliwatts / 1000)}/${Math.round(g.powerLimitMilliwatts / 1000)} W`;
const word = (json: string, prefix: string): string => json.replace(prefix, "").toLowerCase();

function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string => `  ${cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ")}`.trimEnd();
  return [line(head), ...rows.map(line)];
}

/** 93784000 -> "1d 2h 3m"; under a minute, seconds. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3_600);
  const m = Math.floor((s % 3_600) / 60);
  return [d ? `${d}d` : "", d || h ? `${h}h` : "", `${m}m`].filter(Boolean).join(" ");
}
