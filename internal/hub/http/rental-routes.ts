import type { SessionTokens } from "../../auth/session-tokens.js";
import type { PaymentView } from "../../hubapi/payments.js";
import { createRental, deleteRental, getRental, getRentalLogs, listRentals, type PullView, type RentalView, stopRental } from "../../hubapi/rentals.js";
import { costWei, secondsUsed } from "../rentals/rental-cost.js";
import type { RentalBook } from "../rentals/rental-book.js";
import type { HubStore } from "../store/hub-store.js";
import type { HubRental } from "../store/rental-store.js";
import { forbidden, notFound } from "./api-error.js";
import { requireWallet } from "./auth-routes.js";
import type { Router } from "./router.js";
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
  // 202: accepted, "starting" (or "awaiting_payment") until the node reports.
  router.on(createRental, async ({ req, body }) => {
    const renter = requireWallet(req, deps.tokens);
    const { sshPublicKey, sshPublicKeys, ...rest } = await body();
    const rental = await deps.book.create(renter, { ...rest, sshPublicKeys: [...sshPublicKeys, ...(sshPublicKey ? [sshPublicKey] : [])] });
    return view(rental);
  });

  router.on(listRentals, async ({ req, query }) => {
    const wallet = requireWallet(req, deps.tokens);
    if (query().role === "renter") return { rentals: await views(await deps.store.rentals.list({ renter: wallet })) };
    const mine = (await deps.store.listNodes()).filter((n) => n.wallet === wallet).map((n) => n.id);
    return { rentals: await views(await deps.store.rentals.list({ nodeIds: mine })) };
  });

  router.on(getRental, async ({ req, params }) => view(await visible(deps, requireWallet(req, deps.tokens), params.id)));

  router.on(stopRental, async ({ req, params }) => {
    const rental = await owned(deps, requireWallet(req, deps.tokens), params.id);
    return view(await deps.book.stop(rental));
  });

  // An ended job's container and logs go now instead of after the node's retention period.
  router.on(deleteRental, async ({ req, params }) => {
    const rental = await owned(deps, requireWallet(req, deps.tokens), params.id);
    return view(await deps.book.remove(rental));
  });

  router.on(getRentalLogs, async ({ req, params, query }) => {
    const rental = await owned(deps, requireWallet(req, deps.tokens), params.id);
    return { rentalId: rental.id, text: await deps.book.logs(rental, query().tail) };
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

export function rentalView(r: HubRental, now = new Date(), pull: PullView | null = null, payment: PaymentView | null = null): RentalView {
  return {
    id: r.id,
    renter: r.renter,
    nodeId: r.nodeId,
    status: r.status,
    image: r.request.image,
    gpuIndices: r.gpuIndices,
    command: r.request.command,
    ssh: r.ssh,
    sshCommand: r.ssh ? pinnedSshCommand(r.ssh) : null,
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
    pull: r.status === "starting" ? pull : null,
    payment,
  };
}
