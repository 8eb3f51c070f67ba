import koffi from "koffi";

/** How often the daemon hands freed malloc memory back; one call costs well under a millisecond at its size. */
export const TRIM_EVERY_MS = 60_000;

/**
 * glibc's malloc_trim(0), through koffi (which the daemon loads anyway for NVML): returns to the
 * system the pages malloc holds free, in every arena and in the middle of them too. glibc keeps
 * such pages after a burst of native allocations (TLS handshakes, gRPC, zlib and JSON buffers
 * while the daemon starts, a rental's image pull), and an idle daemon's RSS then depends on how
 * fragmented its arenas happen to be: 2 to 7 MiB in bench/daemon-memory.ts. Undefined where the C
 * library has no malloc_trim (musl).
 */
export function openMallocTrim(): (() => boolean) | undefined {
  try {
    const trim = koffi.load("libc.so.6").func("int malloc_trim(size_t pad)") as (pad: number) => number;
    return () => trim(0) === 1;
  } catch {
    return undefined;
  }
}

/** Trims every `everyMs` (unref'd: it never keeps the process alive); the returned function stops it. */
export function trimMallocPeriodically(everyMs = TRIM_EVERY_MS): () => void {
  const trim = openMallocTrim();
  if (!trim) return () => {};
  const timer = setInterval(trim, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
