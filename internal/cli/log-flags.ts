import { type Command, Option } from "commander";
import { LOG_LEVELS } from "../log/logger.js";

export interface LogFlags {
  level: (typeof LOG_LEVELS)[number];
  /** json: one object a line; pretty: for people; auto: pretty on a terminal. */
  format: "json" | "pretty" | "auto";
}

export function addLogFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option("--log-level <level>", "log level").choices([...LOG_LEVELS]).default("info"))
    .addOption(new Option("--log-format <format>", "json, pretty, or auto (pretty on a terminal)").choices(["json", "pretty", "auto"]).default("auto"));
}

export function logFlags(raw: Record<string, unknown>): LogFlags {
  return { level: raw.logLevel as LogFlags["level"], format: raw.logFormat as LogFlags["format"] };
}

export function prettyWanted(format: LogFlags["format"]): boolean | undefined {
  return format === "auto" ? undefined : format === "pretty";
}
