import { readFileSync } from "node:fs";
import koffi from "koffi";
import { describe, expect, it } from "vitest";
import { openMallocTrim } from "./malloc-trim.js";

const MiB = 1024 * 1024;
const rssAnon = (): number => Number(/RssAnon:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))?.[1]) * 1024;

const libc = koffi.load("libc.so.6");
const malloc = libc.func("void *malloc(size_t size)") as (size: number) => unknown;
const memset = libc.func("void *memset(void *s, int c, size_t n)") as (p: unknown, c: number, n: number) => unknown;
const free = libc.func("void free(void *p)") as (p: unknown) => void;

describe("malloc_trim", () => {
  it("hands back to the system what malloc keeps after a burst of native allocations", () => {
    const trim = openMallocTrim();
    expect(trim).toBeDefined();
    // 128 MiB in 64 KiB blocks (below glibc's mmap threshold, so from the arenas), every page
    // touched; then 7 of every 8 freed: the one kept pins the arena, so glibc keeps the holes.
    const block = 64 * 1024;
    const blocks = Array.from({ length: 2048 }, () => {
      const p = malloc(block);
      memset(p, 1, block);
      return p;
    });
    const before = rssAnon();
    blocks.forEach((p, i) => i % 8 !== 0 && free(p));
    const kept = rssAnon();
    trim?.();
    const after = rssAnon();
    blocks.forEach((p, i) => i % 8 === 0 && free(p));

    const freed = (2048 * 7 * block) / 8;
    expect(before - kept, "glibc itself returned the freed blocks").toBeLessThan(freed / 4);
    expect(kept - after, `RSS ${(kept / MiB).toFixed(1)} MiB before the trim, ${(after / MiB).toFixed(1)} after`).toBeGreaterThan(freed / 2);
  });
});
