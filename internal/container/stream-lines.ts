import type { Readable } from "node:stream";

/**
 * The lines of a newline-delimited stream (the engine's pull progress and events). Throws when the
 * stream breaks off (a destroyed or reset connection), so a truncated stream never looks complete.
 */
export async function* streamLines(stream: Readable): AsyncGenerator<string> {
  stream.setEncoding("utf8");
  let buf = "";
  for await (const chunk of stream) {
    buf += chunk as string;
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) yield line;
    }
  }
  if (buf.trim()) yield buf.trim();
}
