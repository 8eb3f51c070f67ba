import type { SessionTokens } from "../../auth/session-tokens.js";
import { createRentalSchema } from "../../hubapi/rentals.js";
import { costWei, secondsUsed } from "../rentals/rental-cost.js";
import type { RentalBook } from "../rentals/rental-book.js";
import type { HubStore } from "../store/hub-store.js";
import type { HubRental } from "../store/rental-store.js";
import { badRequest, forbidden, notFound } from "./api-error.js";
import { requireWallet } from "./auth-routes.js";
import { readJsonBody } from "./json-body.js";
import type { Router } from "./router.js";
import type { PaymentView } from "../billing/payment-view.js";
import type { RentalViews } from "./rental-views.js";

export interface RentalRouteDeps {
  tokens: SessionTokens;
  store: HubStore;
  book: RentalBook;
  views: RentalViews;
}

export function addRentalRoutes(router: Router, deps: RentalRouteDeps): void {
  const view = (r: HubRental) => deps.views.one(r);
  const views = (rs: HubRental[]) => deps.views.many(rs);
  router.on("POST", "/v1/rentals", async ({ req, res }) => {
    const renter = requireWallet(req, deps.tokens);
    const body = await readJsonBody(req, createRentalSchema);
    const { sshPublicKey, sshPublicKeys, ...rest } = body;
    const rental = await deps.book.create(renter, { ...rest, sshPublicKeys: [...sshPublicKeys, ...(sshPublicKey ? [sshPublicKey] : [])] });
    res.statusCode = 202;
    return view(rental);
  });

  router.on("GET", "/v1/rentals", async ({ req, url }) => {
    const wallet = requireWallet(req, deps.tokens);
    const role = url.searchParams.get("role") ?? "renter";
    if (role === "renter") return { rentals: await views(await deps.store.rentals.list({ renter: wallet })) };
    if (role === "provider") {
      const mine = (await deps.store.listNodes()).filter((n) => n.wallet === wallet).map((n) => n.id);
      return { rentals: await views(await deps.store.rentals.list({ nodeIds: mine })) };
    }
    throw badRequest("invalid_request", "role must be renter or provider");
  });

  router.on("GET", "/v1/rentals/:id", async ({ req, params }) => view(await visible(deps, requireWallet(req, deps.tokens), params.id ?? "")));

  router.on("POST", "/v1/rentals/:id/stop", async ({ req, params }) => {
    const rental = await owned(deps, requireWallet(req, deps.tokens), params.id ?? "");
    return view(await deps.book.stop(rental));
  });

  // An ended job's container and logs go now instead of after the node's retention period.
  router.on("DELETE", "/v1/rentals/:id", async ({ req, params }) => {
    const rental = await owned(deps, requireWallet(req, deps.tokens), params.id ?? "");
    return view(await deps.book.remove(rental));
  });

  router.on("GET", "/v1/rentals/:id/logs", async ({ req, params, url }) => {
    const rental = await owned(deps, requireWallet(req, deps.tokens), params.id ?? "");
    const tail = Number(url.searchParams.get("tail") ?? "100");
    if (!Number.isInteger(tail) || tail < 1 || tail > 10_000) throw badRequest("invalid_request", "tail must be a whole number from 1 to 10000");
    return { rentalId: rental.id, text: await deps.book.logs(rental, tail) };
  });
}

/** The renter's own, or one on the provider's node. Someone else's rental is "not found", not "forbidden": ids are not confirmed to strangers. */
async function visible(deps: RentalRouteDeps, wallet: string, id: string): Promise<HubRental> {
  const rental = await deps.store.rentals.get(id);
  if (rental && rental.renter === wallet) return rental;
  if (rental && (await deps.store.getNode(rental.nodeId))?.wallet === wallet) return rental;
  throw notFound("unknown_rental", `no rental ${id}`);
}

async function owned(deps: RentalRouteDeps, wallet: string, id: string): Promise<HubRental> {
  const rental = await visible(deps, wallet, id);
  if (rental.renter !== wallet) throw forbidden("not_your_rental", "only the renter may do this; providers can see rentals on their nodes");
  return rental;
}

/** known_hosts names a host on a port other than 22 as [host]:port (an IPv6 address too). */
function knownHostsLine(ssh: HubRental["ssh"] & object): string {
  return `${ssh.port === 22 ? ssh.host : `[${ssh.host}]:${ssh.port}`} ${ssh.hostPublicKey ?? ""}`;
}

/**
 * The node's plain command with its host key pinned: OpenSSH reads the line from KnownHostsCommand
 * and, with StrictHostKeyChecking=yes, connects only to that key (a rental from before nodes sent
 * their key gets the plain command).
 */
export function pinnedSshCommand(ssh: HubRental["ssh"] & object): string {
  if (!ssh.hostPublicKey) return ssh.command;
  return ssh.command.replace(/^ssh /, `ssh -o StrictHostKeyChecking=yes -o 'KnownHostsCommand=/bin/echo ${knownHostsLine(ssh)}' `);
}

/** How far a starting rental's image pull is, as its node last said. */
export interface PullView {
  status: string;
  currentBytes: number;
  totalBytes: number;
  layersDone: number;
  layersTotal: number;
  at: string;
}

export function rentalView(r: HubRental, now = new Date(), pull: PullView | null = null, payment: PaymentView | null = null) {
  return {
    id: r.id,
    renter: r.renter,
    nodeId: r.nodeId,
    status: r.status,
    image: r.request.image,
    gpuIndices: r.gpuIndices,
    command: r.request.command,
    ssh: r.ssh,
    /** What to paste: ssh with the host key pinned (OpenSSH 8.5+), so it never asks to trust an unknown key. */
    sshCommand: r.ssh ? pinnedSshCommand(r.ssh) : null,
    /** The known_hosts line for the rental's host and port, for clients that take one (scp, sftp, IDEs). */
    sshKnownHosts: r.ssh?.hostPublicKey ? knownHostsLine(r.ssh) : null,
    reason: r.reason,
    exitCode: r.exitCode,
    createdAt: r.createdAt.toISOString(),
    startedAt: r.startedAt?.toISOString() ?? null,
    endedAt: r.endedAt?.toISOString() ?? null,
    expiresAt: r.expiresAt?.toISOString() ?? null,
    secondsUsed: secondsUsed(r, now),
    pricePerSecWei: r.pricePerSecWei,
    // A paid rental never costs more than its deposit: what the escrow pays out is capped there.
    costWei: payment ? payment.usedWei : costWei(r, now),
    /** While it starts: the image pull's progress (null otherwise). */
    pull: r.status === "starting" ? pull : null,
    /** Paid on chain: deposit, used, refund, transaction hashes, and while it awaits payment the call to make. Null for a free rental. */
    payment,
  };
}

export type RentalView = ReturnType<typeof rentalView>;
