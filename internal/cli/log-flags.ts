import { LOG_LEVELS } from "../log/logger.js";
import { oneOf } from "./flag-table.js";

export interface LogFlags {
  level: (typeof LOG_LEVELS)[number];
  /** json: one object a line; pretty: for people; auto: pretty on a terminal. */
  format: "json" | "pretty" | "auto";
}

/** The log settings both programs share; spread into their flag tables. */
export const logFlagTable = {
  logLevel: oneOf({ value: "level", help: "log level", choices: LOG_LEVELS, default: "info" }),
  logFormat: oneOf({ value: "format", help: "log lines: JSON, or readable (pretty on a terminal when auto)", choices: ["json", "pretty", "auto"] as const, default: "auto" }),
};

export function logFlags(v: { logLevel: LogFlags["level"]; logFormat: LogFlags["format"] }): LogFlags {
  return { level: v.logLevel, format: v.logFormat };
}

export function prettyWanted(format: LogFlags["format"]): boolean | undefined {
  return format === "auto" ? undefined : format === "pretty";
}
