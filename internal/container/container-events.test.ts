import { describe, expect, it } from "vitest";
import { parseContainerEvent } from "./container-events.js";
import type { ContainerEvent } from "./engine.js";

const die = {
  status: "die",
  id: "c1",
  from: "img",
  Type: "container",
  Action: "die",
  Actor: { ID: "c1", Attributes: { exitCode: "137", image: "img", name: "rental-r1", "io.gpunode.kind": "rental" } },
  scope: "local",
  time: 1_700_000_000,
  timeNano: 1_700_000_000_123_000_000,
};

describe("parseContainerEvent", () => {
  it.each<[string, object | string, ContainerEvent | undefined]>([
    [
      "die with exit code and labels",
      die,
      { type: "die", id: "c1", name: "rental-r1", labels: { "io.gpunode.kind": "rental" }, exitCode: 137, time: new Date(1_700_000_000_123) },
    ],
    [
      "oom",
      { ...die, Action: "oom", Actor: { ID: "c1", Attributes: { name: "m", image: "i" } } },
      { type: "oom", id: "c1", name: "m", labels: {}, time: new Date(1_700_000_000_123) },
    ],
    ["an action we did not ask for", { ...die, Action: "exec_start: sh" }, undefined],
    ["a network event", { ...die, Type: "network", Action: "connect" }, undefined],
    ["no actor id", { ...die, Actor: {} }, undefined],
    ["a torn line", '{"Type":"container","Act', undefined],
  ])("%s", (_name, msg, want) => {
    expect(parseContainerEvent(typeof msg === "string" ? msg : JSON.stringify(msg))).toEqual(want);
  });
});
