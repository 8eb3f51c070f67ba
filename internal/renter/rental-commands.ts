import type { Command } from "commander";
import { confirm } from "@inquirer/prompts";
import { action } from "./action.js";
import { type PayOptions, payOptions } from "./chain-access.js";
import { CliError, usageError } from "./cli-error.js";
import { awaitsFunding, RentalFunding } from "./funding.js";
import { HubApi, type RentalView } from "./hub-api.js";
import { ether, type Output, table } from "./output.js";
import { PullBar } from "./pull-bar.js";
import { ACTIVE, followRental } from "./rental-events.js";
import { SessionStore } from "./session-store.js";
import { publicKey } from "./ssh-key.js";

interface RentOptions extends PayOptions {
  gpus?: string;
  gpuIds?: string;
  model?: string;
  node?: string;
  image: string;
  sshKey?: string;
  cpus?: string;
  memory?: string;
  env?: string[];
  maxDuration?: string;
  maxPrice?: string;
  wait?: boolean;
  root?: boolean;
}

export function addRentalCommands(program: Command): void {
  const rent = program
    .command("rent")
    .description("rent GPUs: an interactive machine you ssh into, or a batch job (a command after --)")
    .argument("[command...]", "a batch job's command, after --: the rental runs it to the end and reports its exit code")
    .requiredOption("--image <ref>", "container image, e.g. pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime")
    .option("--gpus <n>", "how many GPUs (0: CPU only)", "1")
    .option("--gpu-ids <ids>", "exact GPUs on --node, comma-separated indices or UUIDs")
    .option("--model <text>", "GPU model, e.g. h100 (case-insensitive part of the name)")
    .option("--node <id>", "a node (default: the cheapest that fits)")
    .option("--ssh-key <file.pub>", "public key to log in with (default ~/.ssh/id_ed25519.pub or id_rsa.pub)")
    .option("--cpus <n>", "CPU limit in cores, e.g. 8 or 1.5")
    .option("--memory <GiB>", "memory limit in GiB")
    .option("--env <K=V>", "environment variable (repeat)", (v: string, all: string[] = []) => [...all, v])
    .option("--max-duration <duration>", "stop after this long, e.g. 90m or 12h")
    .option("--max-price <wei>", "at most this many wei per second")
    .option("--root", "SSH in as root (by default sessions run as the image's own user, like docker exec)")
    .option("--wait", "follow the rental until it runs or ends (default on a terminal)")
    .option("--no-wait", "return as soon as the hub took the request (and, on a paid node, the funding is sent)");
  payOptions(rent)
    .addHelpText(
      "after",
      "\nOn a node with a price the hub asks for a deposit into its escrow first: gpu-rent sends it from your wallet\n(the one login used, or --key-file/--keystore), shows its confirmations, then follows the start.\n" +
        "\nExamples:\n  gpu-rent rent --gpus 1 --model h100 --image pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime\n  gpu-rent rent --gpus 0 --image busybox -- sh -c 'echo hi'   # a batch job, CPU only\n" +
        "  gpu-rent rent --gpus 1 --max-duration 2h --chain-rpc https://rpc.example.org --image busybox -- ./train.sh   # deposit: 2 h at the node's price",
    )
    .action(
      action<RentOptions>(async ({ out, opts, args, signal }) => {
        const s = await new SessionStore().require();
        const api = HubApi.of(s);
        const body = await rentBody(opts, args);
        const created = await api.call<RentalView>("POST", "/v1/rentals", body);
        const wait = opts.wait ?? (process.stdout.isTTY === true && !out.json);
        const say = (line: string): void => void (out.json ? undefined : out.err(line));
        if (wait) say(`rental ${created.id} on node ${created.nodeId}: ${created.status}`);
        const funding = awaitsFunding(created) ? await RentalFunding.send([created], { api, session: s, opts, say, byHand: true }) : undefined;
        try {
          const paid = funding ? { funding: { txHash: funding.sent.get(created.id) ?? null, from: funding.from } } : {};
          if (!wait) {
            if (funding) say(`the rental starts once the funding has ${funding.confirmations.needed} confirmations: gpu-rent show ${created.id}`);
            return showRental(out, created, paid);
          }
          // An interactive rental is ready once it runs; a batch job is followed to its end.
          const settled = args.length === 0 ? (r: RentalView) => r.status !== "starting" && r.status !== "awaiting_payment" : (r: RentalView) => !ACTIVE.has(r.status);
          const following = { onFollow: () => funding?.showConfirmations(), onChange: (r: RentalView) => funding?.seen(r) };
          const ended = await untilSettled(out, api, s, created, settled, funding ? AbortSignal.any([signal, funding.signal]) : signal, following).catch((err: unknown) => {
            throw funding?.failure ?? err;
          });
          showRental(out, ended, paid);
          if (!["running", "exited"].includes(ended.status) || (ended.status === "exited" && ended.exitCode !== 0)) process.exitCode = 1;
        } finally {
          await funding?.close();
        }
      }),
    );

  program
    .command("ls")
    .description("your rentals, newest first")
    .option("--active", "only those awaiting their funding, starting, running or whose node is away")
    .action(
      action<{ active?: boolean }>(async ({ out, opts }) => {
        const s = await new SessionStore().require();
        const { rentals } = await HubApi.of(s).call<{ rentals: RentalView[] }>("GET", "/v1/rentals");
        const shown = rentals.filter((r) => !opts.active || ACTIVE.has(r.status));
        if (out.json) return out.out(JSON.stringify({ rentals: shown }, null, 2));
        if (shown.length === 0) return out.out("no rentals");
        out.out(table(["RENTAL", "STATUS", "IMAGE", "GPUS", "SINCE", "COST"], shown.map((r) => [r.id, r.status, r.image, String(r.gpuIndices.length), r.startedAt ?? r.createdAt, ether(r.costWei)])));
      }),
    );

  program
    .command("show")
    .description("one rental: status, SSH, cost, and how to copy files")
    .argument("<rental>", "rental id")
    .action(action(async ({ out, args }) => showRental(out, await rental(args[0] ?? ""))));

  program
    .command("stop")
    .description("stop a rental (billing ends)")
    .argument("<rental>", "rental id")
    .action(
      action(async ({ out, args }) => {
        const s = await new SessionStore().require();
        showRental(out, await HubApi.of(s).call<RentalView>("POST", `/v1/rentals/${encodeURIComponent(args[0] ?? "")}/stop`));
      }),
    );

  program
    .command("rm")
    .description("remove an ended job's container and logs from its node now")
    .argument("<rental>", "rental id")
    .action(
      action(async ({ out, args }) => {
        const s = await new SessionStore().require();
        const r = await HubApi.of(s).call<RentalView>("DELETE", `/v1/rentals/${encodeURIComponent(args[0] ?? "")}`);
        if (out.json) out.out(JSON.stringify(r));
        else out.out(`removed the container of ${r.id}; its record and cost stay`);
      }),
    );

  program
    .command("logs")
    .description("the rental's output")
    .argument("<rental>", "rental id")
    .option("--tail <n>", "last lines", "100")
    .action(
      action<{ tail: string }>(async ({ out, opts, args }) => {
        const tail = Number(opts.tail);
        if (!Number.isInteger(tail) || tail < 1 || tail > 10_000) throw usageError(`--tail ${opts.tail}: a whole number from 1 to 10000`);
        const s = await new SessionStore().require();
        const logs = await HubApi.of(s).call<{ rentalId: string; text: string }>("GET", `/v1/rentals/${encodeURIComponent(args[0] ?? "")}/logs?tail=${tail}`);
        if (out.json) out.out(JSON.stringify(logs));
        else process.stdout.write(logs.text);
      }),
    );

  program
    .command("cost")
    .description("seconds used, price and cost of a rental, exact in wei; for a paid one also its deposit, used, refund and transactions")
    .argument("<rental>", "rental id")
    .addHelpText("after", "\nExamples:\n  gpu-rent cost 5f0c...\n  gpu-rent --json cost 5f0c... | jq '.payment.transactions[] | .kind + \" \" + .txHash'")
    .action(
      action(async ({ out, args }) => {
        const r = await rental(args[0] ?? "");
        const cost = { id: r.id, status: r.status, secondsUsed: r.secondsUsed, pricePerSecWei: r.pricePerSecWei, costWei: r.costWei, payment: r.payment };
        if (out.json) return out.out(JSON.stringify(cost, null, 2));
        const lines = [`${r.secondsUsed} s x ${r.pricePerSecWei} wei/s = ${r.costWei} wei (${ether(r.costWei)})${ACTIVE.has(r.status) ? `, still ${r.status.replace("_", " ")}` : ""}`];
        const p = r.payment;
        if (p) {
          const wei = (v: string): string => `${v} wei (${ether(v)})`;
          lines.push(
            `payment   ${p.status}${p.refusal ? ` (${p.refusal})` : ""}, escrow ${p.escrowAddress} on chain ${p.chainId}`,
            `deposit   ${wei(p.depositWei)}`,
            `used      ${wei(p.usedWei)}${p.status === "settled" ? "" : " so far"}`,
            `refund    ${p.refundWei === null ? "once it is settled" : wei(p.refundWei)}`,
            ...p.transactions.map((t) => `${t.kind.padEnd(9)} ${t.txHash} (block ${t.blockNumber})`),
          );
          if (p.transactions.length === 0) lines.push("no final transaction yet");
        }
        out.out(lines.join("\n"));
      }),
    );
}

async function rental(id: string): Promise<RentalView> {
  const s = await new SessionStore().require();
  return HubApi.of(s).call<RentalView>("GET", `/v1/rentals/${encodeURIComponent(id)}`);
}

async function rentBody(o: RentOptions, command: string[]): Promise<Record<string, unknown>> {
  const whole = (v: string | undefined, flag: string, min = 0): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw usageError(`${flag} ${v}: expected a number of at least ${min}`);
    return n;
  };
  const env = (o.env ?? []).map((pair) => {
    const i = pair.indexOf("=");
    if (i <= 0) throw usageError(`--env ${pair}: expected NAME=VALUE`);
    return { name: pair.slice(0, i), value: pair.slice(i + 1) };
  });
  const gpuIds = o.gpuIds ? o.gpuIds.split(",").map((x) => x.trim()).filter(Boolean) : [];
  if (gpuIds.length > 0 && !o.node) throw usageError("--gpu-ids needs --node");
  if (o.maxPrice !== undefined && !/^\d{1,78}$/.test(o.maxPrice)) throw usageError(`--max-price ${o.maxPrice}: a whole number of wei per second`);
  const interactive = command.length === 0;
  const cpus = whole(o.cpus, "--cpus", 0.001);
  const memory = whole(o.memory, "--memory", 0.001);
  return {
    image: o.image,
    ...(o.node ? { nodeId: o.node } : {}),
    ...(gpuIds.length > 0 ? { gpuIds } : { gpuCount: whole(o.gpus, "--gpus") ?? 1 }),
    ...(o.model ? { gpuModel: o.model } : {}),
    ...(cpus !== undefined ? { cpuMillis: Math.round(cpus * 1000) } : {}),
    ...(memory !== undefined ? { memoryBytes: Math.round(memory * 1024 ** 3) } : {}),
    ...(o.maxDuration ? { maxDurationSeconds: Math.round(parseDurationMs(o.maxDuration) / 1000) } : {}),
    ...(o.maxPrice ? { maxPricePerSecWei: o.maxPrice } : {}),
    ...(command.length > 0 ? { command } : {}),
    ...(env.length > 0 ? { env } : {}),
    ...(o.root ? { runAsRoot: true } : {}),
    // A batch job needs no key; an interactive rental does, and a job may take one too.
    ...(interactive || o.sshKey ? { sshPublicKey: await publicKey(o.sshKey) } : {}),
  };
}

export function parseDurationMs(text: string, flag = "--max-duration"): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(text.trim());
  if (!m) throw usageError(`${flag} ${text}: expected a number with a unit, e.g. 90m or 12h`);
  return Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "s" | "m" | "h" | "d"];
}

/**
 * Follows the rental until `settled` says so; Ctrl-C asks whether to stop it. `onFollow` runs once
 * Ctrl-C is handled (e.g. to start showing a funding's confirmations), `onChange` on every change.
 */
async function untilSettled(
  out: Output,
  api: HubApi,
  s: Parameters<typeof followRental>[0],
  created: RentalView,
  settled: (r: RentalView) => boolean,
  signal: AbortSignal,
  hooks: { onFollow?: () => void; onChange?: (r: RentalView) => void } = {},
): Promise<RentalView> {
  const follow = new AbortController();
  const onAbort = () => follow.abort();
  signal.addEventListener("abort", onAbort);
  let interrupted = false;
  const onSigint = (): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    follow.abort();
  };
  process.on("SIGINT", onSigint);
  const bar = process.stderr.isTTY && !out.json ? new PullBar(created.image) : undefined;
  let pulledSaid = false;
  if (signal.aborted) onAbort();
  try {
    hooks.onFollow?.();
    let last = created.status;
    let lastPayment = created.payment?.status;
    return await followRental(
      s,
      created.id,
      (r) => {
        hooks.onChange?.(r);
        if (r.payment && r.payment.status !== lastPayment && !out.json) out.err(`payment ${r.payment.status}${r.payment.refusal ? `: ${r.payment.refusal}` : ""}`);
        lastPayment = r.payment?.status;
        if (r.pull && bar) bar.update(r.pull);
        else if (r.pull && !pulledSaid && !out.json) {
          pulledSaid = true;
          out.err(`pulling ${r.image} (${r.pull.layersTotal} layers so far)`);
        }
        if (r.status !== last && !out.json) {
          bar?.stop();
          out.err(`${r.status}${r.reason ? `: ${r.reason}` : ""}`);
        }
        last = r.status;
      },
      settled,
      follow.signal,
    );
  } catch (err) {
    if (!interrupted) throw err;
    const stop = process.stdin.isTTY ? await confirm({ message: `stop rental ${created.id}?`, default: false }) : false;
    if (stop) return api.call<RentalView>("POST", `/v1/rentals/${encodeURIComponent(created.id)}/stop`);
    throw new CliError("interrupted", `stopped following; rental ${created.id} goes on (gpu-rent show ${created.id})`);
  } finally {
    bar?.stop();
    process.off("SIGINT", onSigint);
    signal.removeEventListener("abort", onAbort);
  }
}

/** A rental for people, or its view as JSON (with `extra`, e.g. the funding this command sent). */
export function showRental(out: Output, r: RentalView, extra: Record<string, unknown> = {}): void {
  if (out.json) return out.out(JSON.stringify({ ...r, ...extra }, null, 2));
  const lines = [
    `rental   ${r.id}`,
    `status   ${r.status}${r.reason ? ` (${r.reason})` : ""}${r.exitCode !== null ? `, exit code ${r.exitCode}` : ""}`,
    `node     ${r.nodeId}, GPUs ${r.gpuIndices.join(",") || "none"}`,
    `image    ${r.image}${r.command.length > 0 ? `  command ${JSON.stringify(r.command)}` : ""}`,
    `cost     ${r.secondsUsed} s x ${r.pricePerSecWei} wei/s = ${r.costWei} wei (${ether(r.costWei)})`,
  ];
  const p = r.payment;
  if (p) lines.push(`payment  ${p.status}: deposit ${ether(p.depositWei)}, used ${ether(p.usedWei)}${p.refundWei === null ? "" : `, refund ${ether(p.refundWei)}`} (gpu-rent cost ${r.id})`);
  if (r.ssh) {
    lines.push(`ssh      gpu-rent ssh ${r.id}    (or: ${r.ssh.command})`);
    lines.push(`copy     scp -P ${r.ssh.port} FILE ${r.ssh.user}@${r.ssh.host}:    sftp -P ${r.ssh.port} ${r.ssh.user}@${r.ssh.host}`);
  }
  out.out(lines.join("\n"));
}
