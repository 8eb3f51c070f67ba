import https from "node:https";
import type { IncomingMessage } from "node:http";
import type { RentalView } from "./hub-api.js";
import type { Session } from "./session-store.js";

/** A rental that is not over yet: it awaits its funding, starts, runs, or its node is away. */
export const ACTIVE = new Set(["awaiting_payment", "starting", "running", "node_offline"]);

/**
 * Follows rentals over the hub's live event stream (GET /v1/events, Server-Sent Events) until
 * `done` says so: no polling, each change as the hub makes it.
 */
export async function followRentals(s: Session, ids: ReadonlySet<string>, onChange: (r: RentalView) => void, done: () => boolean, signal: AbortSignal): Promise<void> {
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = https.get(new URL("/v1/events", s.hubHttp), { ca: s.caCertPem, headers: { authorization: `Bearer ${s.token}`, accept: "text/event-stream" }, signal }, resolve);
    req.on("error", reject);
  });
  if (res.statusCode !== 200) throw new Error(`the hub's event stream answered ${res.statusCode}`);
  res.setEncoding("utf8");
  let buffer = "";
  try {
    for await (const chunk of res as AsyncIterable<string>) {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const r of rentalsIn(block)) {
          if (!ids.has(r.id)) continue;
          onChange(r);
          if (done()) return;
        }
      }
    }
  } finally {
    res.destroy();
  }
  throw new Error("the hub closed its event stream");
}

/** One rental, followed until `done(rental)`; resolves with that state. */
export async function followRental(s: Session, rentalId: string, onChange: (r: RentalView) => void, done: (r: RentalView) => boolean, signal: AbortSignal): Promise<RentalView> {
  let last: RentalView | undefined;
  await followRentals(
    s,
    new Set([rentalId]),
    (r) => {
      last = r;
      onChange(r);
    },
    () => last !== undefined && done(last),
    signal,
  );
  return last as RentalView;
}

/** The rentals an SSE block carries: the snapshot's, or one `rental` event's. */
function rentalsIn(block: string): RentalView[] {
  let event = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event: ")) event = line.slice(7);
    else if (line.startsWith("data: ")) data.push(line.slice(6));
  }
  if (data.length === 0) return [];
  const body = JSON.parse(data.join("\n")) as { rental?: RentalView; rentals?: Array<{ rental: RentalView }> };
  if (event === "snapshot") return (body.rentals ?? []).map((e) => e.rental);
  if (event === "rental" && body.rental) return [body.rental];
  return [];
}
