import { describe, expect, it } from "vitest";
import { ReconnectPolicy } from "./reconnect-policy.js";

const opts = { backoff: { initialMs: 250, maxMs: 3_000, factor: 2 }, welcomeTimeoutMs: 10_000, busy: { maxWelcomeTimeoutMs: 60_000, maxBackoffMs: 30_000 } };
/** The largest delay each step may draw: equal jitter never exceeds its ceiling. */
const highest = () => new ReconnectPolicy(opts, () => 1);

describe("ReconnectPolicy", () => {
  it("retries a lost hub on the short schedule, capped at 3 s, with the usual Welcome timeout", () => {
    const p = highest();
    expect([1, 2, 3, 4, 5, 6].map(() => p.nextDelayMs(false))).toEqual([250, 500, 1_000, 2_000, 3_000, 3_000]);
    expect(p.welcomeTimeoutMs()).toBe(10_000);
  });

  it("gives a hub that sends no Welcome longer to answer and spreads the retries wider", () => {
    const p = highest();
    const steps = [1, 2, 3, 4, 5].map(() => [p.nextDelayMs(true), p.welcomeTimeoutMs()]);
    expect(steps).toEqual([
      [3_000, 20_000],
      [6_000, 40_000],
      [12_000, 60_000],
      [24_000, 60_000],
      [30_000, 60_000],
    ]);
  });

  it("starts from the beginning once welcomed", () => {
    const p = highest();
    p.nextDelayMs(true);
    p.nextDelayMs(false);
    p.welcomed();
    expect(p.welcomeTimeoutMs()).toBe(10_000);
    expect(p.nextDelayMs(false)).toBe(250);
  });

  it("jitters every delay so a fleet does not redial in lockstep", () => {
    const low = new ReconnectPolicy(opts, () => 0);
    expect(low.nextDelayMs(true)).toBe(1_500);
    expect(low.nextDelayMs(false)).toBe(125);
  });
});
