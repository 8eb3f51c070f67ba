import { afterEach, describe, expect, it } from "vitest";
import { ether, useCurrency } from "./output.js";

describe("amounts in the CLI's output", () => {
  afterEach(() => useCurrency({ symbol: "ETH", decimals: 18 }));

  it("shows wei as ether, exact to 6 decimals", () => {
    expect(ether(1_500_000_000_000_000n)).toBe("0.0015 ETH");
    expect(ether("2000000000000000000")).toBe("2 ETH");
  });

  it("shows a token escrow's amounts in the token's own decimals and symbol", () => {
    useCurrency({ symbol: "USDC", decimals: 6 });
    expect(ether(12_345_678n)).toBe("12.345678 USDC");
    useCurrency({ symbol: "PTS", decimals: 0 });
    expect(ether(42n)).toBe("42 PTS");
  });
});
