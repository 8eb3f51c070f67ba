import { type EscrowPlace, paymentView } from "../billing/payment-view.js";
import type { RentalBook } from "../rentals/rental-book.js";
import type { PaymentStore } from "../store/payment-store.js";
import type { HubRental } from "../store/rental-store.js";
import type { RentalView } from "../../hubapi/rentals.js";
import { rentalView } from "./rental-routes.js";

export interface PaymentSource {
  store: PaymentStore;
  place: EscrowPlace;
  askedDeposit(r: HubRental): bigint;
}

/** Rentals as the API shows them: the record, its image pull while it starts, and its money when it is paid on chain. */
export class RentalViews {
  constructor(private readonly deps: { book: RentalBook; payments?: PaymentSource }) {}

  async one(r: HubRental): Promise<RentalView> {
    const [view] = await this.many([r]);
    return view as RentalView;
  }

  /** Payments and their logs in two queries, however many rentals. */
  async many(rentals: HubRental[]): Promise<RentalView[]> {
    const now = new Date();
    const pay = this.deps.payments;
    const ids = rentals.map((r) => r.id);
    const payments = new Map((pay ? await pay.store.list({ rentalIds: ids }) : []).map((p) => [p.rentalId, p]));
    const events = pay && payments.size > 0 ? await pay.store.events([...payments.keys()]) : [];
    return rentals.map((r) => {
      const p = payments.get(r.id);
      const payment = p && pay ? paymentView(p, r, events.filter((e) => e.rentalId === r.id), pay.place, pay.askedDeposit(r), now) : null;
      return rentalView(r, now, this.deps.book.pullOf(r.id), payment);
    });
  }
}
