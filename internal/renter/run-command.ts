import type { Command } from "commander";
import { action } from "./action.js";
import { type PayOptions, payOptions } from "./chain-access.js";
import { CliError, usageError } from "./cli-error.js";
import { awaitsFunding, RentalFunding } from "./funding.js";
import { HubApi, type RentalView } from "./hub-api.js";
import { table } from "./output.js";
import { parseDurationMs } from "./rental-commands.js";
import { ACTIVE, followRentals } from "./rental-events.js";
import { SessionStore } from "./session-store.js";

interface RunOptions extends PayOptions {
  gpus: string;
  model?: string;
  replicas: string;
  cpus?: string;
  memory?: string;
  env?: string[];
  maxPrice?: string;
  maxDuration?: string;
  tail: string;
}

export interface ReplicaResult {
  index: number;
  rentalId: string;
  nodeId: string;
  status: string;
  exitCode: number | null;
  reason: string;
  logTail: string;
  /** On a paid node: the funding this command sent for it. */
  fundingTxHash: string | null;
}

const MAX_REPLICAS = 64;

/**
 * `gpu-rent run IMAGE -- CMD`: one batch job as R replicas, placed by the hub over its nodes (each
 * sees REPLICA_INDEX and REPLICA_COUNT), followed to the end; each replica's exit code and the tail
 * of its output come back, and the exit status is non-zero when any replica failed.
 */
export function addRunCommand(program: Command): void {
  const run = program
    .command("run")
    .description("run a batch job as --replicas copies spread over nodes, wait for all of them, and gather their exit codes and output")
    .argument("<image>", "container image")
    .argument("<command...>", "the job's command, after --")
    .option("--gpus <n>", "GPUs per replica (0: CPU only)", "1")
    .option("--model <text>", "GPU model, e.g. h100")
    .option("--replicas <n>", "how many copies", "1")
    .option("--cpus <n>", "CPU limit per replica, in cores")
    .option("--memory <GiB>", "memory limit per replica, in GiB")
    .option("--env <K=V>", "environment variable for every replica (repeat)", (v: string, all: string[] = []) => [...all, v])
    .option("--max-price <wei>", "at most this many wei per second per replica")
    .option("--max-duration <duration>", "stop each replica after this long, e.g. 2h")
    .option("--tail <n>", "lines of each replica's output to gather", "20");
  payOptions(run)
    .addHelpText(
      "after",
      "\nOn nodes with a price each replica is its own rental with its own deposit: gpu-rent sends one funding per replica from your wallet.\n" +
        "\nExamples:\n  gpu-rent run pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime --gpus 1 --replicas 4 -- python train.py --shard \\$REPLICA_INDEX\n  gpu-rent --json run busybox --gpus 0 --replicas 3 -- sh -c 'echo $REPLICA_INDEX of $REPLICA_COUNT'",
    )
    .action(
      action<RunOptions>(async ({ out, opts, args, signal }) => {
        const [image = "", ...command] = args;
        const replicas = Number(opts.replicas);
        if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS) throw usageError(`--replicas ${opts.replicas}: a whole number from 1 to ${MAX_REPLICAS}`);
        const tail = Number(opts.tail);
        if (!Number.isInteger(tail) || tail < 1 || tail > 10_000) throw usageError(`--tail ${opts.tail}: a whole number from 1 to 10000`);
        const gpus = Number(opts.gpus);
        if (!Number.isInteger(gpus) || gpus < 0) throw usageError(`--gpus ${opts.gpus}: a whole number`);
        const env = (opts.env ?? []).map((pair) => {
          const i = pair.indexOf("=");
          if (i <= 0) throw usageError(`--env ${pair}: expected NAME=VALUE`);
          return { name: pair.slice(0, i), value: pair.slice(i + 1) };
        });
        const s = await new SessionStore().require();
        const api = HubApi.of(s);
        const base = {
          image,
          command,
          gpuCount: gpus,
          ...(opts.model ? { gpuModel: opts.model } : {}),
          ...(opts.cpus ? { cpuMillis: Math.round(Number(opts.cpus) * 1000) } : {}),
          ...(opts.memory ? { memoryBytes: Math.round(Number(opts.memory) * 1024 ** 3) } : {}),
          ...(opts.maxPrice ? { maxPricePerSecWei: opts.maxPrice } : {}),
          // Also what each replica's deposit pays for on a paid node.
          ...(opts.maxDuration ? { maxDurationSeconds: Math.round(parseDurationMs(opts.maxDuration) / 1000) } : {}),
        };
        // All placed at once: the hub reserves each one's GPUs as it picks, so they spread over nodes.
        const placed = await Promise.allSettled(
          Array.from({ length: replicas }, (_, index) =>
            api.call<RentalView>("POST", "/v1/rentals", { ...base, env: [...env, { name: "REPLICA_INDEX", value: String(index) }, { name: "REPLICA_COUNT", value: String(replicas) }] }),
          ),
        );
        const refused = placed.find((p): p is PromiseRejectedResult => p.status === "rejected");
        const created = placed.flatMap((p) => (p.status === "fulfilled" ? [p.value] : []));
        if (refused) {
          // Nothing half-done: the replicas that were placed are stopped again.
          await Promise.all(created.map((r) => api.call("POST", `/v1/rentals/${r.id}/stop`).catch(() => undefined)));
          throw refused.reason instanceof CliError ? new CliError(refused.reason.code, `only ${created.length} of ${replicas} replicas could be placed (stopped again): ${refused.reason.message}`) : refused.reason;
        }
        if (!out.json) out.err(`${replicas} replica(s) placed on ${new Set(created.map((r) => r.nodeId)).size} node(s); waiting for them to finish`);
        const say = (line: string): void => void (out.json ? undefined : out.err(line));
        // One funding per paid replica, nonces counted here; a replica that cannot be paid stops them all again.
        const funding = created.some(awaitsFunding)
          ? await RentalFunding.send(created, { api, session: s, opts, say, byHand: false }).catch(async (err: unknown) => {
              await Promise.all(created.map((r) => api.call("POST", `/v1/rentals/${r.id}/stop`).catch(() => undefined)));
              throw err instanceof CliError ? new CliError(err.code, `${err.message}; the ${replicas} replica(s) were stopped again (a deposit already sent is refunded to your escrow balance: gpu-rent withdraw)`) : err;
            })
          : undefined;
        const latest = new Map(created.map((r) => [r.id, r]));
        funding?.showConfirmations();
        try {
          await followRentals(
            s,
            new Set(latest.keys()),
            (r) => {
              const before = latest.get(r.id);
              latest.set(r.id, r);
              funding?.seen(r);
              if (!out.json && before?.status !== r.status) out.err(`replica ${created.findIndex((c) => c.id === r.id)}: ${r.status}${r.exitCode !== null ? ` (exit code ${r.exitCode})` : ""}${r.reason && !ACTIVE.has(r.status) ? `: ${r.reason}` : ""}`);
            },
            () => [...latest.values()].every((r) => !ACTIVE.has(r.status)),
            funding ? AbortSignal.any([signal, funding.signal]) : signal,
          ).catch((err: unknown) => {
            throw funding?.failure ?? err;
          });
        } finally {
          await funding?.close();
        }
        const results: ReplicaResult[] = await Promise.all(
          created.map(async (c, index) => {
            const r = latest.get(c.id) ?? c;
            const logs = await api.call<{ text: string }>("GET", `/v1/rentals/${r.id}/logs?tail=${tail}`).catch((err: unknown) => ({ text: `(logs unavailable: ${(err as Error).message})` }));
            return { index, rentalId: r.id, nodeId: r.nodeId, status: r.status, exitCode: r.exitCode, reason: r.reason, logTail: logs.text, fundingTxHash: funding?.sent.get(r.id) ?? null };
          }),
        );
        const failed = results.filter((r) => r.status !== "exited" || r.exitCode !== 0).length;
        if (out.json) out.out(JSON.stringify({ replicas: results, failed }, null, 2));
        else {
          out.out(table(["REPLICA", "RENTAL", "NODE", "STATUS", "EXIT", "LAST LINE"], results.map((r) => [String(r.index), r.rentalId, r.nodeId, r.status, r.exitCode === null ? "-" : String(r.exitCode), r.logTail.trimEnd().split("\n").at(-1) ?? ""])));
          out.out(failed === 0 ? `all ${results.length} replicas succeeded` : `${failed} of ${results.length} replicas failed`);
        }
        if (failed > 0) process.exitCode = 1;
      }),
    );
}
