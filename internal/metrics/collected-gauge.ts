import { Gauge, type GaugeConfiguration } from "prom-client";

/** A gauge whose value is read at scrape time by collectors that its owner adds later. */
export interface CollectedGauge<L extends string> extends Gauge<L> {
  addCollect(collect: (gauge: Gauge<L>) => void | Promise<void>): void;
}

export function collectedGauge<L extends string>(config: Omit<GaugeConfiguration<L>, "collect">): CollectedGauge<L> {
  const collectors: Array<(gauge: Gauge<L>) => void | Promise<void>> = [];
  const gauge = new Gauge<L>({
    ...config,
    async collect() {
      for (const c of collectors) await c(this);
    },
  });
  return Object.assign(gauge, { addCollect: (c: (gauge: Gauge<L>) => void | Promise<void>) => void collectors.push(c) });
}
