import type { ContainerEvent, ContainerEventType } from "./engine.js";

export const SUBSCRIBED_EVENT_TYPES: readonly ContainerEventType[] = ["start", "die", "oom"];

/** Actor attributes the engine adds beside the container's labels. */
const NON_LABEL_ATTRIBUTES = new Set(["name", "image", "exitCode", "signal"]);

interface EngineEventMessage {
  Type?: string;
  Action?: string;
  time?: number;
  timeNano?: number;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/**
 * One line of the engine's event stream (JSON) -> our event, or undefined for anything we did not
 * subscribe to. The engine reports labels mixed into Actor.Attributes; keys it uses itself
 * (name, image, exitCode, signal) are taken out, so a label with one of those keys is lost.
 */
export function parseContainerEvent(line: string): ContainerEvent | undefined {
  let msg: EngineEventMessage;
  try {
    msg = JSON.parse(line) as EngineEventMessage;
  } catch {
    return undefined; // a torn or foreign line: the stream itself goes on
  }
  const type = msg.Action as ContainerEventType;
  if (msg.Type !== "container" || !SUBSCRIBED_EVENT_TYPES.includes(type)) return undefined;
  const id = msg.Actor?.ID;
  if (!id) return undefined;
  const attrs = msg.Actor?.Attributes ?? {};
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) if (!NON_LABEL_ATTRIBUTES.has(k)) labels[k] = v;
  const event: ContainerEvent = {
    type,
    id,
    name: attrs["name"] ?? "",
    labels,
    time: msg.timeNano ? new Date(msg.timeNano / 1e6) : new Date((msg.time ?? 0) * 1000),
  };
  const exitCode = Number.parseInt(attrs["exitCode"] ?? "", 10);
  if (type === "die" && Number.isFinite(exitCode)) event.exitCode = exitCode;
  return event;
}
