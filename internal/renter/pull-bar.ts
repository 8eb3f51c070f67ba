import cliProgress from "cli-progress";
import type { PullView } from "../hubapi/rentals.js";

const MB = 1024 * 1024;

/** The image pull as a bar on the terminal (stderr): bytes of all layers, layers done, speed and time left. */
export class PullBar {
  private bar: cliProgress.SingleBar | undefined;

  constructor(private readonly image: string) {}

  update(pull: PullView): void {
    const total = Math.max(1, Math.round(pull.totalBytes / MB));
    if (!this.bar) {
      this.bar = new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: `pulling ${this.image}  {bar} {percentage}%  {value}/{total} MB  {layers} layers  {speed}  ETA {eta_formatted}`,
          hideCursor: true,
          etaBuffer: 20,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, 0, { layers: "0/0", speed: "" });
    }
    this.bar.setTotal(total);
    this.bar.update(Math.round(pull.currentBytes / MB), { layers: `${pull.layersDone}/${pull.layersTotal}`, speed: this.speed(pull) });
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }

  private last: { bytes: number; at: number } | undefined;
  private rate = 0;

  /** MB/s, smoothed over the reports (about one a second). */
  private speed(pull: PullView): string {
    const at = Date.parse(pull.at);
    if (this.last && at > this.last.at) {
      const now = (pull.currentBytes - this.last.bytes) / MB / ((at - this.last.at) / 1000);
      this.rate = this.rate === 0 ? now : this.rate * 0.7 + now * 0.3;
    }
    this.last = { bytes: pull.currentBytes, at };
    return `${this.rate.toFixed(1)} MB/s`;
  }
}
