import { type ControlResponse, GetStatusResponse } from "../proto/gen/gpunode/v1/gpunode.js";
import { askDaemon, ControlClientError } from "./control-client.js";
import { formatStatus } from "./status-text.js";

export interface ControlOutput {
  out(text: string): void;
  err(text: string): void;
}

/** `node-daemon status [--json]`: exit 0 with the daemon's answer, 1 when it cannot be asked. */
export async function statusCommand(socketPath: string, opts: { json: boolean }, io: ControlOutput): Promise<number> {
  const res = await ask(socketPath, { body: { $case: "getStatus", value: {} } }, io);
  if (!res) return 1;
  if (res.outcome?.$case !== "status") return refused(res, io);
  const status = res.outcome.value;
  io.out(opts.json ? `${JSON.stringify(withDefaults(status, GetStatusResponse.toJSON(status)), null, 2)}\n` : formatStatus(status));
  return 0;
}

/** `node-daemon drain` / `undrain`. */
export async function drainCommand(socketPath: string, draining: boolean, io: ControlOutput): Promise<number> {
  const res = await ask(socketPath, { body: { $case: "setDraining", value: { draining } } }, io);
  if (!res) return 1;
  if (res.outcome?.$case !== "drain") return refused(res, io);
  const r = res.outcome.value;
  const state = r.draining ? "draining: this node takes no new rentals; running rentals keep running" : "not draining: this node takes new rentals";
  const hub = r.hubTold ? "the hub has been told" : "the hub is not connected and hears it when the node reconnects";
  io.out(`${r.changed ? "" : "already "}${state}; ${hub}\n`);
  return 0;
}

async function ask(socketPath: string, request: Parameters<typeof askDaemon>[1], io: ControlOutput): Promise<ControlResponse | undefined> {
  try {
    return await askDaemon(socketPath, request);
  } catch (err) {
    if (!(err instanceof ControlClientError)) throw err;
    io.err(`node-daemon: ${err.message}\n`);
    return undefined;
  }
}

/**
 * proto3 JSON leaves out fields at their default (GPU index 0, false, ""): for scripts every field
 * is written, taken from the message itself where the JSON lacks it.
 */
export function withDefaults(message: unknown, json: unknown): unknown {
  if (Array.isArray(message)) return message.map((m, i) => withDefaults(m, Array.isArray(json) ? json[i] : undefined));
  if (typeof message !== "object" || message === null) return json === undefined ? message : json;
  const out: Record<string, unknown> = { ...(typeof json === "object" && json !== null ? (json as Record<string, unknown>) : {}) };
  for (const [key, value] of Object.entries(message)) {
    if (value === undefined) continue;
    out[key] = withDefaults(value, out[key]);
  }
  return out;
}

function refused(res: ControlResponse, io: ControlOutput): number {
  const e = res.outcome?.$case === "error" ? res.outcome.value : { code: "bad_answer", message: "unexpected answer" };
  io.err(`node-daemon: the daemon refused (${e.code}): ${e.message}\n`);
  return 1;
}
