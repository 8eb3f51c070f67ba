import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import { PollLoop } from "../util/poll-loop.js";
import type { EscrowChain, EscrowLog } from "./escrow.js";

export interface ChainCursorStore {
  cursor(name: string): Promise<{ blockNumber: number; blockHash: string } | undefined>;
  setCursor(name: string, cursor: { blockNumber: number; blockHash: string }): Promise<void>;
}

export interface ChainListenerOptions {
  /** A log is acted on once its block has this many confirmations (its own block counts as one). */
  confirmations: number;
  pollMs: number;
  maxBackoffMs: number;
  /** The first block to read when the store has no cursor yet (the escrow's deployment block). */
  fromBlock: number;
  /** The most blocks one eth_getLogs asks for (RPC providers cap the range). */
  maxRange: number;
  /** The chain the hub was told to use: an RPC that serves another chain is never read. */
  chainId: number;
}

export interface ChainStatus {
  /** False while the RPC fails (the hub retries with backoff). */
  connected: boolean;
  headBlock: number | null;
  /** The newest block with enough confirmations to act on. */
  finalBlock: number | null;
  /** The newest block whose logs the hub has acted on. */
  processedBlock: number | null;
  /** How far the hub is behind the chain's head, in blocks (confirmations included). */
  lagBlocks: number | null;
  lastError: string;
  /** When the chain last answered (ISO time); null until the first read. */
  readAt: string | null;
  /** Reorganisations seen deeper than the confirmations (the cursor's own block changed). */
  deepReorgs: number;
}

const CURSOR = "escrow";

/**
 * Reads the escrow's logs by block range from a cursor kept in the store and hands each to
 * `handle` only once its block is final (N confirmations). `handle` must be idempotent by
 * (transaction hash, log index): after a crash the batch since the cursor is read again. A reorg
 * shallower than N is never seen; one deeper (the cursor's block hash changed) is logged, counted,
 * and the cursor steps back so that logs moved to other blocks are read again; what was acted on
 * stays acted on.
 */
export class ChainListener extends EventEmitter<{ status: [ChainStatus] }> {
  private readonly loop: PollLoop;
  private state: ChainStatus = { connected: false, headBlock: null, finalBlock: null, processedBlock: null, lagBlocks: null, lastError: "", readAt: null, deepReorgs: 0 };
  private chainChecked = false;

  constructor(
    private readonly opts: ChainListenerOptions,
    private readonly deps: {
      chain: EscrowChain;
      cursors: ChainCursorStore;
      handle: (log: EscrowLog) => Promise<void>;
      logger: Logger;
      /** False on a hub that is not the one to read the chain now (another replica holds the lease). */
      isLeader?: () => boolean;
    },
  ) {
    super();
    this.loop = new PollLoop({ intervalMs: opts.pollMs, maxBackoffMs: opts.maxBackoffMs }, (signal) => this.tick(signal), (err, retryInMs) => this.failed(err, retryInMs));
  }

  start(): void {
    this.loop.start();
  }

  wake(): void {
    this.loop.wake();
  }

  close(): Promise<void> {
    return this.loop.close();
  }

  status(): ChainStatus {
    return { ...this.state };
  }

  private async tick(signal: AbortSignal): Promise<boolean> {
    const { chain } = this.deps;
    if (this.deps.isLeader && !this.deps.isLeader()) return false;
    if (!this.chainChecked) {
      const id = await chain.chainId(signal);
      if (id !== this.opts.chainId) throw new Error(`the chain RPC serves chain ${id}, not chain ${this.opts.chainId}: nothing is read from it`);
      this.chainChecked = true;
    }
    const head = await chain.headBlock(signal);
    let cursor = (await this.deps.cursors.cursor(CURSOR)) ?? { blockNumber: this.opts.fromBlock - 1, blockHash: "" };
    if (cursor.blockHash && (await chain.blockHash(cursor.blockNumber, signal)) !== cursor.blockHash) cursor = await this.rewind(cursor.blockNumber);
    const final = head - this.opts.confirmations + 1;
    const to = Math.min(final, cursor.blockNumber + this.opts.maxRange);
    if (to > cursor.blockNumber) {
      for (const log of await chain.logs(cursor.blockNumber + 1, to, signal)) await this.deps.handle(log);
      const hash = await chain.blockHash(to, signal);
      if (hash) await this.deps.cursors.setCursor(CURSOR, { blockNumber: to, blockHash: hash });
      cursor = { blockNumber: to, blockHash: hash ?? "" };
    }
    this.publish({ connected: true, headBlock: head, finalBlock: final, processedBlock: cursor.blockNumber, lagBlocks: Math.max(0, head - cursor.blockNumber), lastError: "", readAt: new Date().toISOString() });
    return to < final;
  }

  /** The block under the cursor is gone: a reorganisation deeper than the confirmations. */
  private async rewind(blockNumber: number): Promise<{ blockNumber: number; blockHash: string }> {
    const back = Math.max(this.opts.fromBlock - 1, blockNumber - Math.max(64, this.opts.confirmations * 4));
    this.publish({ deepReorgs: this.state.deepReorgs + 1 });
    this.deps.logger.error(
      { blockNumber, rereadFrom: back + 1, confirmations: this.opts.confirmations },
      "the chain reorganised deeper than the confirmations the hub waits for: logs from there are read again; what was acted on stays (raise -chain-confirmations)",
    );
    const cursor = { blockNumber: back, blockHash: "" };
    await this.deps.cursors.setCursor(CURSOR, cursor);
    return cursor;
  }

  private failed(err: unknown, retryInMs: number): void {
    const message = err instanceof Error ? err.message : String(err);
    if (this.state.connected || this.state.lastError !== message) this.deps.logger.warn({ err: message, retryInMs }, "the chain RPC failed; retrying");
    this.publish({ connected: false, lastError: message });
  }

  private publish(patch: Partial<ChainStatus>): void {
    this.state = { ...this.state, ...patch };
    this.emit("status", this.status());
  }
}
