// The hub's dashboard: live nodes, the signed-in wallet's rentals, and a form to start one.
// A plain ES module served by the hub itself; it talks only to the hub's own REST API and
// GET /v1/events (Server-Sent Events). Every text goes into the page through textContent.
// Paid rentals (GET /v1/chain says whether the hub takes payments) are funded and withdrawn
// through the same browser wallet (EIP-1193 eth_sendTransaction); the hub reads the chain.
// Each node's GPUs get small charts of the last hour (uPlot, served by the hub from its npm package).

import uPlot from "./uPlot.esm.js";

const ACTIVE = new Set(["awaiting_payment", "starting", "running", "node_offline"]);
/** withdraw(): the escrow's selector, the first 4 bytes of keccak256("withdraw()"); it takes no arguments. */
const WITHDRAW_CALLDATA = "0x3ccfd60b";
/** How often the chain's status (and the signed-in wallet's escrow balance) is read again. */
const CHAIN_REFRESH_MS = 10_000;
/** Blocks behind the newest final block before the hub counts as lagging (it polls between blocks). */
const LAG_TOLERANCE_BLOCKS = 2;
const SENT_KEY = "dashboard.sentPayments";

const state = {
  /** @type {string | null} */ wallet: null,
  /** @type {Map<string, any>} node id -> NodeLive */ nodes: new Map(),
  /** @type {Map<string, {role: string, rental: any}>} */ rentals: new Map(),
  /** server clock minus ours, from the snapshot: ages and the sign-in time follow the hub's clock */
  skewMs: 0,
  /** GET /v1/chain; null until read */
  chain: null,
  /** GET /v1/earnings of the signed-in wallet; null when signed out or without payments */
  earnings: null,
  /** rental id -> hash of the funding this page sent, while the hub waits for it to be final (kept across reloads) */
  sent: loadSent(),
  /** the last withdrawal this page sent: {hash, done} */
  withdrawal: null,
};

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** A DOM element with properties/attributes and children (strings become text nodes). */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k in node) node[k] = v;
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

// ------------------------------------------------------------------ API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!res.ok) {
    const e = data && data.error;
    throw new ApiError(res.status, e?.code ?? `http_${res.status}`, e?.message ?? `${method} ${path} answered ${res.status}`);
  }
  return data;
}

function showError(err) {
  let text;
  if (err instanceof ApiError) text = `${err.message} (${err.code})`;
  else if (err && typeof err === "object" && "message" in err) text = String(err.message) + ("code" in err && err.code !== undefined ? ` (wallet error ${err.code})` : "");
  else text = String(err);
  $("error-text").textContent = text;
  $("error").hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error-text").textContent = "";
}

/** Runs an action from a button: errors go to the banner, the button is disabled meanwhile. */
function action(button, fn) {
  return async (ev) => {
    ev?.preventDefault?.();
    clearError();
    button.disabled = true;
    try {
      await fn();
    } catch (err) {
      showError(err);
    } finally {
      button.disabled = false;
    }
  };
}

// ------------------------------------------------------------------ sign-in (EIP-1193 wallet + EIP-4361)

async function signIn() {
  const eth = browserWallet();
  const accounts = await eth.request({ method: "eth_requestAccounts" });
  if (!Array.isArray(accounts) || accounts.length === 0) throw new Error("The wallet shared no account.");
  const address = String(accounts[0]);
  // The hub builds the EIP-4361 text (siwe, the address checksummed); the wallet shows it and signs it.
  const { message } = await api("GET", `/v1/auth/message?address=${encodeURIComponent(address)}`);
  const signature = await eth.request({ method: "personal_sign", params: [utf8Hex(message), address] });
  const res = await api("POST", "/v1/auth/verify", { message, signature });
  setWallet(res.address);
  connect(); // the event stream now carries the session cookie: the wallet's rentals come with the snapshot
}

/** personal_sign takes the message as 0x-hex of its UTF-8 bytes. */
function utf8Hex(text) {
  return `0x${[...new TextEncoder().encode(text)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** The browser wallet (EIP-1193), or a clear error. */
function browserWallet() {
  const eth = window.ethereum;
  if (!eth || typeof eth.request !== "function") throw new Error("No browser wallet found: install a wallet that provides window.ethereum (EIP-1193).");
  return eth;
}

/** The signed-in account as the wallet spells it: payments and withdrawals must come from it (the escrow credits the sender). */
async function signedInAccount(eth) {
  const accounts = await eth.request({ method: "eth_requestAccounts" });
  const mine = Array.isArray(accounts) ? accounts.find((a) => String(a).toLowerCase() === state.wallet?.toLowerCase()) : undefined;
  if (!mine) throw new Error(`The wallet's account is not the signed-in ${state.wallet}: switch to that account in the wallet, or sign in again.`);
  return String(mine);
}

/** Asks the wallet to switch to the escrow's chain (adding it with the hub's public RPC if it does not know it). */
async function ensureChain(eth, chainId, rpcUrl) {
  const onChain = async () => BigInt(String(await eth.request({ method: "eth_chainId" })));
  if ((await onChain()) === BigInt(chainId)) return;
  const hexId = `0x${chainId.toString(16)}`;
  try {
    await eth.request({ method: "wallet_switchEthereumChain", params: [{ chainId: hexId }] });
  } catch (err) {
    // 4902: the wallet does not know the chain.
    if (err?.code !== 4902 || !rpcUrl) throw err;
    await eth.request({ method: "wallet_addEthereumChain", params: [{ chainId: hexId, chainName: `Chain ${chainId}`, rpcUrls: [rpcUrl], nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 } }] });
  }
  const now = await onChain();
  if (now !== BigInt(chainId)) throw new Error(`The wallet is on chain ${now}, not chain ${chainId}: switch it and try again.`);
}

/** Sends one transaction from the signed-in account through the wallet; resolves to its hash. */
async function sendTransaction(chainId, rpcUrl, tx) {
  const eth = browserWallet();
  const from = await signedInAccount(eth);
  await ensureChain(eth, chainId, rpcUrl);
  const hash = await eth.request({ method: "eth_sendTransaction", params: [{ from, to: tx.to, value: `0x${BigInt(tx.value).toString(16)}`, data: tx.data }] });
  return String(hash);
}

async function signOut() {
  await api("POST", "/v1/auth/signout");
  setWallet(null);
  state.rentals.clear();
  renderRentals();
  connect();
}

function setWallet(wallet) {
  const changed = state.wallet !== wallet;
  state.wallet = wallet;
  if (changed) {
    state.earnings = null;
    state.withdrawal = null;
    renderBalance();
    void refreshEarnings();
  }
  $("wallet-address").textContent = wallet ?? "";
  $("signed-in").hidden = !wallet;
  $("sign-in").hidden = !!wallet;
  $("sign-out").hidden = !wallet;
  $("rentals-section").hidden = !wallet;
  $("rent-section").hidden = !wallet;
}

// ------------------------------------------------------------------ live feed

let source = null;

function connect() {
  source?.close();
  setFeed("connecting…", false);
  source = new EventSource("/v1/events");
  source.addEventListener("open", () => setFeed("live", true));
  source.addEventListener("error", () => setFeed("reconnecting…", false));
  source.addEventListener("snapshot", (e) => {
    const s = JSON.parse(e.data);
    state.skewMs = Date.parse(s.serverTime) - Date.now();
    setWallet(s.wallet);
    state.nodes = new Map(s.nodes.map((n) => [n.id, n]));
    state.rentals = new Map(s.rentals.map((r) => [r.rental.id, r]));
    // Reconnected: what was missed meanwhile comes from the history again.
    for (const c of nodeCharts.values()) c.fresh = false;
    renderAllNodes();
    for (const c of nodeCharts.values()) if (c.details.open && !c.fresh) void loadHistory(c);
    renderRentals();
    refreshRentForm();
  });
  source.addEventListener("nodes", (e) => {
    for (const n of JSON.parse(e.data).nodes) {
      state.nodes.set(n.id, n);
      renderNode(n);
    }
    renderNodeCount();
    refreshRentForm();
  });
  source.addEventListener("rental", (e) => {
    const entry = JSON.parse(e.data);
    state.rentals.set(entry.rental.id, entry);
    renderRentals();
    // A settlement or refund changes the escrow balances.
    if (entry.rental.payment) soonRefreshEarnings();
  });
  source.addEventListener("session", () => {
    setWallet(null);
    state.rentals.clear();
    renderRentals();
  });
}

function setFeed(text, live) {
  const f = $("feed-status");
  f.textContent = text;
  f.classList.toggle("live", live);
}

// ------------------------------------------------------------------ formatting

const short = (s, head = 6, tail = 4) => (s.length > head + tail + 1 ? `${s.slice(0, head)}…${tail > 0 ? s.slice(-tail) : ""}` : s);
const gib = (bytes) => (bytes / 1024 ** 3).toFixed(1);
const serverNow = () => Date.now() + state.skewMs;

function ago(iso) {
  if (!iso) return "never";
  const s = Math.max(0, Math.floor((serverNow() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

function duration(seconds) {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
}

/** Whole seconds used, as the hub counts them: from the node's start to the end, or now. */
function secondsUsed(r) {
  if (!r.startedAt) return 0;
  const end = r.endedAt ? Date.parse(r.endedAt) : serverNow();
  return Math.max(0, Math.ceil((end - Date.parse(r.startedAt)) / 1000));
}

const costWei = (r) => (BigInt(secondsUsed(r)) * BigInt(r.pricePerSecWei)).toString();
/**
 * An amount in the currency's base unit ("wei") in whole units, up to 6 decimals, exact (bigints):
 * "0.0045 ETH"; below a millionth, down to the base unit. The currency is the hub's (GET /v1/chain):
 * the chain's native one, or the escrow's token with its own decimals and symbol.
 */
function ether(wei) {
  const { symbol, decimals } = state.chain?.currency ?? { symbol: "ETH", decimals: 18 };
  const one = 10n ** BigInt(decimals);
  const v = BigInt(wei);
  const digits = Math.min(decimals, v > 0n && v < one / 1_000_000n ? decimals : 6);
  const frac = digits > 0 ? (((v % one) * 10n ** BigInt(digits)) / one).toString().padStart(digits, "0").replace(/0+$/, "") : "";
  return `${v / one}${frac ? `.${frac}` : ""} ${symbol}`;
}
/** An amount for people, the exact wei on hover. */
const amount = (cls, label, wei) => el("span", { class: `amount ${cls}`, title: `${wei} wei` }, `${label} ${ether(wei)}`);
const hexHash = (h) => short(h, 10, 6);
/** The cost cell: ether for people, the exact wei beside it. */
function costCell(r) {
  const wei = costWei(r);
  return [el("span", { class: "rental-cost-eth" }, ether(wei)), el("span", { class: "reason rental-cost" }, `${wei} wei`)];
}

// ------------------------------------------------------------------ nodes table

function renderAllNodes() {
  const table = $("nodes");
  for (const body of table.querySelectorAll("tbody")) body.remove();
  for (const n of state.nodes.values()) renderNode(n);
  renderNodeCount();
}

function renderNodeCount() {
  const nodes = [...state.nodes.values()];
  const draining = nodes.filter((n) => n.status === "draining").length;
  const online = nodes.filter((n) => n.status === "online").length + draining;
  $("node-count").textContent = state.nodes.size ? `${online} online of ${state.nodes.size}${draining ? ` (${draining} draining)` : ""}` : "";
  $("no-nodes").hidden = state.nodes.size > 0;
}

function renderNode(n) {
  const gpus = n.gpus.length ? n.gpus : [null];
  const span = gpus.length;
  const body = el("tbody", { dataset: { nodeId: n.id } });
  gpus.forEach((g, i) => {
    const row = el("tr", g ? { dataset: { gpuIndex: String(g.index) } } : {});
    if (i === 0) {
      row.append(
        el("td", { rowSpan: span, title: n.id }, el("code", {}, short(n.id, 8, 0))),
        el("td", { rowSpan: span, title: n.wallet, class: "node-wallet" }, short(n.wallet)),
        el("td", { rowSpan: span, class: "node-host" }, n.host),
        el(
          "td",
          { rowSpan: span },
          el("span", { class: `badge node-status ${n.status}`, title: n.status === "draining" ? "online; takes no new rentals (node-daemon drain)" : undefined }, n.status),
          n.refusesRentals ? el("span", { class: "badge node-refused", title: n.refusesRentals }, "no rentals") : "",
          n.refusesRentals ? el("div", { class: "node-refusal" }, n.refusesRentals) : "",
          // Which node-daemon it runs, and the recommended one when it is older (node-daemon update installs it).
          n.daemonVersion ? el("div", { class: "node-version", title: "node-daemon version" }, `v${n.daemonVersion}`) : "",
          n.daemonBehind ? el("span", { class: "badge node-behind", title: `the hub recommends node-daemon ${n.daemonBehind}; node-daemon update installs it` }, `behind: ${n.daemonBehind}`) : "",
        ),
        el("td", { rowSpan: span, class: "node-price", title: `${n.pricePerSecWei} wei per second` }, `${ether(BigInt(n.pricePerSecWei) * 3600n)} / GPU-h`),
        el("td", { rowSpan: span, class: "node-heartbeat", dataset: { since: n.lastHeartbeatAt ?? "" } }, ago(n.lastHeartbeatAt)),
      );
    }
    if (!g) {
      row.append(el("td", { colSpan: 7, class: "muted" }, "no GPUs (CPU-only node)"));
    } else {
      const metric = (v, fmt) => (v === null || v === undefined ? "–" : fmt(v));
      row.append(
        el("td", { class: "gpu-index" }, String(g.index)),
        el("td", { class: "gpu-model", title: g.uuid }, g.model || "unknown"),
        el(
          "td",
          {},
          g.utilizationPercent === null ? null : el("meter", { min: 0, max: 100, value: g.utilizationPercent }),
          el("span", { class: "gpu-util" }, metric(g.utilizationPercent, (v) => `${v} %`)),
        ),
        el("td", { class: "gpu-memory" }, g.memoryUsedBytes === null ? `– / ${gib(g.memoryTotalBytes)} GiB` : `${gib(g.memoryUsedBytes)} / ${gib(g.memoryTotalBytes)} GiB`),
        el("td", { class: "gpu-temp" }, metric(g.temperatureCelsius, (v) => `${v} °C`)),
        el("td", { class: "gpu-power" }, metric(g.powerWatts, (v) => `${Math.round(v)} W`)),
        el("td", { title: g.error ?? "" }, el("span", { class: `badge gpu-state ${g.state}` }, g.state)),
      );
    }
    body.append(row);
  });
  // The same charts element every time: its canvases (and their data) outlive the row around them.
  if (n.gpus.length) body.append(el("tr", { class: "gpu-charts-row" }, el("td", { colSpan: 13 }, chartsFor(n))));
  const old = $("nodes").querySelector(`tbody[data-node-id="${CSS.escape(n.id)}"]`);
  if (old) old.replaceWith(body);
  else $("nodes").append(body);
}

// ------------------------------------------------------------------ GPU charts (uPlot)

/** The charts' window, as GET /v1/nodes/{id}/gpu-history keeps it. */
const HISTORY_MS = 3_600_000;
/** Most points a chart keeps from the live feed between two reads of the history. */
const MAX_CHART_POINTS = 1_000;
/** Nodes whose charts start open; later ones open on a click (an open node reads its history). */
const AUTO_OPEN_CHARTS = 12;
/** How often open charts slide to the current hour without new heartbeats. */
const SLIDE_MS = 30_000;
const GIB = 1024 ** 3;
const CHART_WIDTH = 236;
const CHART_HEIGHT = 96;

/** One chart per metric, in this order: its column of the history, its axis and its latest value. */
const METRICS = [
  {
    key: "util",
    title: "Utilisation",
    color: "#2f5bea",
    column: (s) => s.utilizationGpuPercent,
    live: (g) => g.utilizationPercent,
    latest: (g) => (g.utilizationPercent === null ? "–" : `${g.utilizationPercent} %`),
    tick: (v) => `${v} %`,
    point: (v) => `${v} %`,
    range: () => [0, 100],
  },
  {
    key: "mem",
    title: "Memory used",
    color: "#7a3fc4",
    column: (s) => s.memoryUsedBytes.map((b) => b / GIB),
    live: (g) => (g.memoryUsedBytes === null ? null : g.memoryUsedBytes / GIB),
    latest: (g) => `${g.memoryUsedBytes === null ? "–" : gib(g.memoryUsedBytes)} / ${gib(g.memoryTotalBytes)} GiB`,
    tick: (v) => `${v} GiB`,
    point: (v) => `${v.toFixed(1)} GiB`,
    range: (gc) => [0, Math.max(1, Math.ceil(gc.memoryTotalBytes / GIB))],
  },
  {
    key: "temp",
    title: "Temperature",
    color: "#c4572f",
    column: (s) => s.temperatureCelsius,
    live: (g) => g.temperatureCelsius,
    latest: (g) => (g.temperatureCelsius === null ? "–" : `${g.temperatureCelsius} °C`),
    tick: (v) => `${v} °C`,
    point: (v) => `${Math.round(v * 10) / 10} °C`,
    range: (_gc, max) => [0, Math.max(100, Math.ceil((max ?? 0) / 10) * 10)],
  },
];

/**
 * node id -> its charts: { id, details, grid, note, gpus: Map<index, GpuCharts>, fresh, reads }.
 * GpuCharts: { index, uuid, memoryTotalBytes, row, caption, figures, plots (while shown), data: {t, util, mem, temp} }.
 */
const nodeCharts = new Map();

const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });

/** The node's charts, kept in step with its live view: a row per GPU, the latest values, the heartbeat's point. */
function chartsFor(n) {
  let c = nodeCharts.get(n.id);
  if (!c) {
    const details = el("details", { class: "gpu-charts" });
    const grid = el("div", { class: "gpu-charts-grid" });
    const note = el("span", { class: "gpu-charts-note muted" });
    details.append(el("summary", {}, "GPU history · last hour ", note), grid);
    c = { id: n.id, details, grid, note, gpus: new Map(), fresh: false, reads: 0 };
    nodeCharts.set(n.id, c);
    const charts = c;
    details.addEventListener("toggle", () => {
      if (details.open) openCharts(charts);
      else charts.fresh = false; // reopened: read the history again
    });
    details.open = [...nodeCharts.values()].filter((x) => x.details.open).length < AUTO_OPEN_CHARTS;
  }
  syncCharts(c, n);
  if (c.details.open) openCharts(c);
  return c.details;
}

function syncCharts(c, n) {
  let reorder = false;
  const present = new Set();
  for (const g of n.gpus) {
    present.add(g.index);
    let gc = c.gpus.get(g.index);
    if (gc && gc.uuid !== g.uuid) {
      dropGpuCharts(gc);
      gc = undefined;
    }
    if (!gc) {
      gc = newGpuCharts(g);
      c.gpus.set(g.index, gc);
      reorder = true;
    }
    gc.memoryTotalBytes = g.memoryTotalBytes;
    gc.caption.replaceChildren(el("strong", {}, `GPU ${g.index}`), el("span", { class: "gpu-chart-name", title: g.uuid }, g.model || "unknown"));
    METRICS.forEach((m, i) => (gc.latest[i].textContent = m.latest(g)));
    gc.live = g;
  }
  for (const [index, gc] of c.gpus) {
    if (present.has(index)) continue;
    dropGpuCharts(gc);
    c.gpus.delete(index);
    reorder = true;
  }
  if (reorder) c.grid.replaceChildren(...[...c.gpus.values()].sort((a, b) => a.index - b.index).map((gc) => gc.row));

  // This heartbeat's numbers, as the hub's history records them (a GPU that could not be read adds none).
  const t = n.lastHeartbeatAt ? Date.parse(n.lastHeartbeatAt) : NaN;
  if (Number.isNaN(t)) return;
  for (const g of n.gpus) {
    const gc = c.gpus.get(g.index);
    if (!gc || g.error || g.utilizationPercent === null || !(t > (gc.data.t.at(-1) ?? -Infinity))) continue;
    gc.data.t.push(t);
    for (const m of METRICS) gc.data[m.key].push(m.live(g));
    trimChart(gc);
    drawChart(gc);
  }
}

function newGpuCharts(g) {
  const caption = el("div", { class: "gpu-chart-caption" });
  const latest = METRICS.map(() => el("span", { class: "gpu-chart-latest" }));
  const figures = METRICS.map((m, i) =>
    el("figure", { class: "gpu-chart", role: "img", dataset: { metric: m.key } }, el("figcaption", {}, el("span", { class: "gpu-chart-title" }, m.title), latest[i])),
  );
  const row = el("div", { class: "gpu-chart-row", dataset: { gpuIndex: String(g.index) } }, caption, ...figures);
  const gc = { index: g.index, uuid: g.uuid, memoryTotalBytes: g.memoryTotalBytes, row, caption, latest, figures, plots: null, live: g, data: { t: [], util: [], mem: [], temp: [] } };
  describeCharts(gc);
  return gc;
}

function dropGpuCharts(gc) {
  for (const p of gc.plots ?? []) p.destroy();
  gc.plots = null;
  gc.row.remove();
}

/** Forgets what fell out of the hour, and the oldest points beyond the cap. */
function trimChart(gc) {
  const cutoff = serverNow() - HISTORY_MS;
  let drop = 0;
  while (drop < gc.data.t.length && (gc.data.t[drop] < cutoff || gc.data.t.length - drop > MAX_CHART_POINTS)) drop++;
  if (drop > 0) for (const k of ["t", "util", "mem", "temp"]) gc.data[k].splice(0, drop);
}

/** The charts are canvases: their text equivalent names the GPU, the count of samples and the latest value. */
function describeCharts(gc) {
  const n = gc.data.t.length;
  METRICS.forEach((m, i) => {
    const last = gc.data[m.key].at(-1);
    const summary = n === 0 ? "no samples yet" : `${n} sample${n === 1 ? "" : "s"} since ${clock(gc.data.t[0])}, the last ${m.point(last)} at ${clock(gc.data.t[n - 1])}`;
    gc.figures[i].setAttribute("aria-label", `${m.title} of GPU ${gc.index} over the last hour: ${summary}`);
  });
}

function drawChart(gc) {
  describeCharts(gc);
  if (!gc.plots) return;
  METRICS.forEach((m, i) => gc.plots[i].setData([gc.data.t, gc.data[m.key]]));
}

/** Builds the canvases of an open node's charts (once) and reads its history (once per opening or reconnect). */
function openCharts(c) {
  for (const gc of c.gpus.values()) {
    if (gc.plots) continue;
    gc.plots = METRICS.map((m, i) => new uPlot(chartOptions(gc, m, i), [gc.data.t, gc.data[m.key]], gc.figures[i]));
  }
  if (!c.fresh) void loadHistory(c);
}

function chartOptions(gc, m, i) {
  const axis = { stroke: "#6b7385", font: "10px system-ui, sans-serif", grid: { stroke: "#eceff5", width: 1 }, ticks: { stroke: "#e3e6ee", width: 1, size: 3 } };
  return {
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
    ms: 1,
    legend: { show: false },
    cursor: { drag: { x: false, y: false }, points: { size: 5 } },
    scales: {
      x: { time: true, range: () => [serverNow() - HISTORY_MS, serverNow()] },
      y: { range: (_u, _min, max) => m.range(gc, max) },
    },
    axes: [
      { ...axis, space: 48, size: 22, values: (_u, splits) => splits.map((v) => clock(v)) },
      { ...axis, space: 24, size: m.key === "mem" ? 50 : 42, values: (_u, splits) => splits.map((v) => m.tick(v)) },
    ],
    series: [{}, { label: m.title, stroke: m.color, width: 1.5, fill: `${m.color}1f`, points: { size: 4 } }],
    hooks: {
      // Hovering shows the point under the cursor beside the chart; leaving shows the latest again.
      setCursor: [
        (u) => {
          const idx = u.cursor.idx;
          const v = idx === null || idx === undefined ? undefined : u.data[1][idx];
          gc.latest[i].textContent = v === undefined || v === null ? m.latest(gc.live) : `${m.point(v)} at ${clock(u.data[0][idx])}`;
        },
      ],
    },
  };
}

/** GET /v1/nodes/{id}/gpu-history, then the live points newer than it. */
async function loadHistory(c) {
  const read = ++c.reads;
  c.fresh = true;
  let h;
  try {
    h = await api("GET", `/v1/nodes/${encodeURIComponent(c.id)}/gpu-history`);
  } catch (err) {
    if (read !== c.reads) return;
    c.fresh = false;
    c.note.textContent = `(history unavailable: ${err.message})`;
    return;
  }
  if (read !== c.reads) return; // a newer read is on its way
  c.note.textContent = "";
  for (const hg of h.gpus) {
    const gc = c.gpus.get(hg.index);
    if (!gc || gc.uuid !== hg.uuid) continue;
    const s = hg.samples;
    const last = s.t.at(-1) ?? -Infinity;
    const newer = gc.data.t.findIndex((t) => t > last);
    const tail = (k) => (newer < 0 ? [] : gc.data[k].slice(newer));
    gc.data = { t: [...s.t, ...tail("t")], ...Object.fromEntries(METRICS.map((m) => [m.key, [...m.column(s), ...tail(m.key)]])) };
    trimChart(gc);
    drawChart(gc);
  }
}

/** The hour moves on between heartbeats: open charts slide with it. */
function slideCharts() {
  for (const c of nodeCharts.values()) {
    if (!c.details.open) continue;
    for (const gc of c.gpus.values()) {
      trimChart(gc);
      drawChart(gc);
    }
  }
}

// ------------------------------------------------------------------ rentals table

function renderRentals() {
  const tbody = $("rentals").querySelector("tbody");
  const entries = [...state.rentals.values()].sort((a, b) => Date.parse(b.rental.createdAt) - Date.parse(a.rental.createdAt));
  forgetSent();
  tbody.replaceChildren(...entries.map(rentalRow));
  $("no-rentals").hidden = entries.length > 0;
  // The Payment column only where the hub takes payments (or a rental was paid).
  $("rentals").classList.toggle("paid", !!state.chain?.payments || entries.some((e) => e.rental.payment));
  renderEarnings();
}

// ------------------------------------------------------------------ paid rentals

const PAYMENT_LABELS = { awaiting: "awaiting payment", funded: "paid", refused: "refused", settled: "settled", reclaimed: "reclaimed" };

/** A paid rental's money: what to pay (and a Pay button) while it awaits payment, then deposit, used, refund and its transactions. */
function paymentCell(role, r) {
  const p = r.payment;
  if (!p) return el("td", { class: "rental-payment pay-col muted" }, "free");
  const cell = el("td", { class: "rental-payment pay-col" }, el("span", { class: `badge payment-status ${p.status}` }, PAYMENT_LABELS[p.status] ?? p.status));
  const awaiting = p.status === "awaiting" && r.status === "awaiting_payment";
  if (awaiting && p.pay) {
    cell.append(el("span", { class: "pay-line" }, amount("payment-deposit", "deposit", p.pay.value)));
    const sent = state.sent.get(r.id);
    if (sent) {
      const wait = state.chain?.payments ? `waiting for ${state.chain.confirmations} confirmation${state.chain.confirmations === 1 ? "" : "s"}` : "waiting for the hub to see it final";
      cell.append(el("span", { class: "pay-line payment-sent" }, "sent ", el("code", { class: "tx-hash", title: sent }, hexHash(sent)), ` · ${wait}`));
    } else if (role === "renter") {
      const button = el("button", { type: "button", class: "pay", textContent: "Pay" });
      button.addEventListener("click", action(button, () => payRental(r)));
      cell.append(el("span", { class: "pay-line" }, button, r.expiresAt ? el("span", { class: "muted pay-deadline", dataset: { until: r.expiresAt } }, payDeadline(r.expiresAt)) : null));
    }
    return cell;
  }
  if (p.status === "awaiting") {
    cell.append(el("span", { class: "pay-line muted" }, "not paid"));
    return cell;
  }
  const lines = el(
    "span",
    { class: "pay-line" },
    amount("payment-deposit", "deposit", p.depositWei),
    " · ",
    amount("payment-used", "used", p.usedWei),
    " · ",
    p.refundWei === null ? el("span", { class: "amount payment-refund muted" }, "refund after settlement") : amount("payment-refund", "refund", p.refundWei),
  );
  cell.append(lines);
  if (p.refusal) cell.append(el("span", { class: "reason payment-refusal" }, `refused: ${p.refusal}`));
  if (p.transactions.length) {
    cell.append(
      el(
        "span",
        { class: "pay-line txs" },
        ...p.transactions.flatMap((t, i) => [
          i > 0 ? " " : null,
          el("span", { class: "tx", dataset: { kind: t.kind } }, `${t.kind} `, el("code", { class: "tx-hash", title: `${t.txHash} (block ${t.blockNumber})` }, hexHash(t.txHash))),
        ]),
      ),
    );
  }
  return cell;
}

function payDeadline(iso) {
  const left = Math.max(0, Math.floor((Date.parse(iso) - serverNow()) / 1000));
  return left > 0 ? `pay within ${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}` : "payment window over";
}

/** Sends the funding the hub asked for (payment.pay: to, value, data) through the wallet. */
async function payRental(r) {
  const p = r.payment;
  const hash = await sendTransaction(p.chainId, p.pay.rpcUrl || state.chain?.publicRpcUrl, p.pay);
  state.sent.set(r.id, hash);
  saveSent();
  renderRentals();
}

/** A sent funding is shown until the live stream moves the rental on. */
function forgetSent() {
  let changed = false;
  for (const id of state.sent.keys()) {
    const r = state.rentals.get(id)?.rental;
    if (r && (r.status !== "awaiting_payment" || r.payment?.status !== "awaiting")) changed = state.sent.delete(id) || changed;
  }
  if (changed) saveSent();
}

function loadSent() {
  try {
    return new Map(Object.entries(JSON.parse(sessionStorage.getItem(SENT_KEY) ?? "{}")));
  } catch {
    return new Map();
  }
}

function saveSent() {
  try {
    sessionStorage.setItem(SENT_KEY, JSON.stringify(Object.fromEntries(state.sent)));
  } catch {
    // No storage: the page forgets the hash on reload, nothing else.
  }
}

/** GET /v1/chain: where rentals are paid and how far the hub has read the chain. */
async function refreshChain() {
  const before = JSON.stringify(state.chain?.currency ?? null);
  try {
    state.chain = await api("GET", "/v1/chain");
  } catch {
    // The hub itself is away: the feed's status says so; keep the last word about the chain.
  }
  renderChain();
  // Amounts already on the page were written in the currency assumed until now.
  if (JSON.stringify(state.chain?.currency ?? null) !== before) {
    renderAllNodes();
    renderRentals();
  }
}

function renderChain() {
  const c = state.chain;
  const box = $("chain-status");
  box.hidden = !c?.payments;
  $("rentals").classList.toggle("paid", !!c?.payments || [...state.rentals.values()].some((e) => e.rental.payment));
  if (!c?.payments) return;
  const s = c.sync;
  // lagBlocks counts from the head; the newest final block is confirmations - 1 behind it.
  const behind = s.lagBlocks === null ? null : Math.max(0, s.lagBlocks - (c.confirmations - 1));
  const [text, level] = s.state === "starting" ? ["reading the chain…", "warn"] : s.state === "unreachable" ? ["chain unreachable", "bad"] : behind === null ? ["reading the chain…", "warn"] : behind > LAG_TOLERANCE_BLOCKS ? [`lagging ${behind} blocks`, "warn"] : ["synced", "ok"];
  box.className = `chain ${level}`;
  box.title = `head block ${s.headBlock ?? "unknown"}, read up to block ${s.processedBlock ?? "none"}; a payment counts after ${c.confirmations} confirmation(s)`;
  box.replaceChildren(`paid on chain ${c.chainId}, escrow `, el("code", { title: c.escrowAddress }, short(c.escrowAddress)), "; ", el("span", { class: "chain-sync" }, text));
}

let earningsRead = 0;
let earningsSoon;

/** One read for a burst of rental events (a provider's many rentals), not one each. */
function soonRefreshEarnings() {
  if (earningsSoon) return;
  earningsSoon = setTimeout(() => {
    earningsSoon = undefined;
    void refreshEarnings();
  }, 500);
}

/** GET /v1/earnings: the signed-in wallet's escrow balance and, for a provider, its settled earnings per node. */
async function refreshEarnings() {
  const seq = ++earningsRead;
  if (!state.wallet || !state.chain?.payments) {
    state.earnings = null;
  } else {
    try {
      const e = await api("GET", "/v1/earnings");
      if (seq !== earningsRead) return; // a newer read is on its way
      state.earnings = e.payments ? e : null;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) state.earnings = null;
      // Otherwise keep the last numbers until the next read.
    }
  }
  renderBalance();
}

function renderBalance() {
  const e = state.earnings;
  const withdrawable = e?.withdrawableWei ?? null;
  $("balance-section").hidden = !e || (e.nodes.length === 0 && withdrawable === "0" && !state.withdrawal);
  if (!e) return;
  const cell = $("withdrawable");
  if (withdrawable === null) {
    cell.removeAttribute("title");
    cell.textContent = "unknown (the hub could not read the escrow)";
  } else {
    cell.title = `${withdrawable} wei`;
    cell.textContent = ether(withdrawable);
  }
  const button = /** @type {HTMLButtonElement} */ ($("withdraw"));
  button.disabled = withdrawing || withdrawable === null || BigInt(withdrawable) === 0n;
  const w = state.withdrawal;
  $("withdraw-status").replaceChildren(...(w ? [w.done ? "withdrawn in " : "withdrawal sent ", el("code", { class: "tx-hash", title: w.hash }, hexHash(w.hash)), w.done ? "" : " · waiting for it to be mined"] : []));
  $("earnings-nodes").hidden = e.nodes.length === 0;
  $("earnings-nodes")
    .querySelector("tbody")
    .replaceChildren(
      ...e.nodes.map((n) =>
        el(
          "tr",
          { dataset: { nodeId: n.nodeId } },
          el("td", { title: n.nodeId }, el("code", {}, short(n.nodeId, 8, 0))),
          el("td", { class: "earn-settled", title: `${n.settledWei} wei` }, ether(n.settledWei)),
          el("td", { class: "earn-settled-rentals" }, String(n.settledRentals)),
          el("td", { class: "earn-running" }, String(n.runningPaidRentals)),
        ),
      ),
    );
}

let withdrawing = false;

/** withdraw() on the escrow from the signed-in account; then reads the balance until the hub sees it paid out. */
async function withdraw() {
  const c = state.chain;
  if (!c?.payments) throw new Error("This hub takes no payments on chain.");
  const before = state.earnings?.withdrawableWei ?? null;
  withdrawing = true;
  renderBalance();
  try {
    const hash = await sendTransaction(c.chainId, c.publicRpcUrl, { to: c.escrowAddress, value: "0", data: WITHDRAW_CALLDATA });
    state.withdrawal = { hash, done: false };
    renderBalance();
    for (let i = 0; i < 60 && state.withdrawal?.hash === hash; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await refreshEarnings();
      if (state.withdrawal?.hash === hash && state.earnings && state.earnings.withdrawableWei !== before) {
        state.withdrawal = { hash, done: true };
        break;
      }
    }
  } finally {
    withdrawing = false;
    renderBalance();
  }
}

function rentalRow({ role, rental: r }) {
  const stop = el("button", { type: "button", class: "danger stop", textContent: "Stop" });
  stop.addEventListener("click", action(stop, () => stopRental(r.id)));
  const ssh = r.sshCommand && ACTIVE.has(r.status) ? sshCell(r.sshCommand) : el("td", { class: "muted" }, r.sshCommand ? "ended" : "–");
  const gpus = r.gpuIndices.length ? r.gpuIndices.join(", ") : "–";
  return el(
    "tr",
    { dataset: { rentalId: r.id } },
    el("td", { title: r.id }, el("code", {}, short(r.id, 8, 0)), el("span", { class: "reason" }, r.image)),
    el("td", {}, role),
    el("td", { title: r.nodeId }, el("code", {}, short(r.nodeId, 8, 0))),
    el("td", {}, el("span", { class: `badge rental-status ${r.status}` }, r.status), r.reason ? el("span", { class: "reason" }, r.reason) : null, r.pull ? pullProgress(r.pull) : null),
    el("td", { class: "rental-gpus" }, gpus),
    el("td", { class: "rental-elapsed" }, duration(secondsUsed(r))),
    el("td", { class: "cost" }, costCell(r)),
    paymentCell(role, r),
    ssh,
    el("td", {}, role === "renter" && ACTIVE.has(r.status) ? stop : null, role === "renter" ? logsButton(r) : null),
  );
}

/** The rental's last 200 lines of output, in a dialog. */
function logsButton(r) {
  const button = el("button", { type: "button", class: "logs", textContent: "Logs" });
  button.addEventListener(
    "click",
    action(button, async () => {
      const { text } = await api("GET", `/v1/rentals/${encodeURIComponent(r.id)}/logs?tail=200`);
      $("logs-title").textContent = `Output of ${short(r.id, 8, 0)} (${r.image})`;
      $("logs-text").textContent = text || "(no output)";
      /** @type {HTMLDialogElement} */ ($("logs-dialog")).showModal();
    }),
  );
  return button;
}

/** A provider's earnings: what its nodes' rentals cost their renters, ended and running. */
function renderEarnings() {
  const mine = [...state.rentals.values()].filter((e) => e.role === "provider");
  const total = mine.reduce((sum, e) => sum + BigInt(costWei(e.rental)), 0n);
  $("earnings").textContent = mine.length ? `· earned ${ether(total)} from ${mine.length} rental(s) on your nodes` : "";
}

/** The image pull of a starting rental: a bar over the bytes of all layers, and the numbers. */
function pullProgress(p) {
  const mb = (b) => (b / 1048576).toFixed(0);
  return el(
    "span",
    { class: "pull" },
    el("progress", { class: "pull-bar", max: String(Math.max(1, p.totalBytes)), value: String(p.currentBytes) }),
    el("span", { class: "reason pull-text" }, `pulling ${mb(p.currentBytes)}/${mb(p.totalBytes)} MB, ${p.layersDone}/${p.layersTotal} layers`),
  );
}

function sshCell(command) {
  const copy = el("button", { type: "button", class: "copy", textContent: "Copy" });
  const code = el("code", { class: "ssh-command" }, command);
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(command);
      copy.textContent = "Copied";
    } catch {
      // No clipboard permission: select the text so Ctrl-C copies it.
      getSelection()?.selectAllChildren(code);
      copy.textContent = "Selected";
    }
    setTimeout(() => (copy.textContent = "Copy"), 1500);
  });
  return el("td", {}, code, copy);
}

async function stopRental(id) {
  const r = await api("POST", `/v1/rentals/${encodeURIComponent(id)}/stop`);
  state.rentals.set(r.id, { role: "renter", rental: r });
  renderRentals();
}

/** Elapsed time, cost and heartbeat ages move on between events. */
function tick() {
  for (const cell of document.querySelectorAll("td.node-heartbeat")) cell.textContent = ago(cell.dataset.since || null);
  for (const row of document.querySelectorAll("#rentals tr[data-rental-id]")) {
    const entry = state.rentals.get(row.dataset.rentalId);
    if (!entry || !ACTIVE.has(entry.rental.status)) continue;
    row.querySelector(".rental-elapsed").textContent = duration(secondsUsed(entry.rental));
    row.querySelector("td.cost").replaceChildren(...costCell(entry.rental));
  }
  for (const span of document.querySelectorAll(".pay-deadline")) span.textContent = payDeadline(span.dataset.until);
  renderEarnings();
}

// ------------------------------------------------------------------ start-a-rental form

function refreshRentForm() {
  const select = /** @type {HTMLSelectElement} */ ($("rent-node"));
  const chosen = select.value;
  // Draining nodes take no new rentals: they are not offered (the hub would refuse them with node_draining).
  const online = [...state.nodes.values()].filter((n) => n.status === "online" && n.gpus.length > 0);
  const label = (n) => `${short(n.id, 8, 0)} · ${n.host} · ${n.gpus.length} GPU(s) · ${n.gpus[0]?.model ?? ""}`;
  const key = online.map((n) => `${n.id} ${label(n)}`).join("\n");
  // Rebuilt only when the choice changes: heartbeats must not close an open drop-down.
  if (select.dataset.key !== key) {
    select.dataset.key = key;
    select.replaceChildren(
    el("option", { value: "" }, "Any online node"),
      ...online.map((n) => el("option", { value: n.id }, label(n))),
    );
    select.value = online.some((n) => n.id === chosen) ? chosen : "";
  }
  renderGpuChoices();
}

function renderGpuChoices() {
  const nodeId = /** @type {HTMLSelectElement} */ ($("rent-node")).value;
  const node = nodeId ? state.nodes.get(nodeId) : undefined;
  const list = $("rent-gpu-list");
  const ticked = new Set([...list.querySelectorAll("input:checked")].map((i) => i.value));
  $("rent-gpus").hidden = !node;
  $("rent-model-label").hidden = !!node;
  if (list.dataset.nodeId !== (nodeId || "")) ticked.clear();
  const key = `${nodeId}|${(node?.gpus ?? []).map((g) => `${g.index}:${g.model}:${g.state}`).join(",")}`;
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  list.dataset.nodeId = nodeId || "";
  list.replaceChildren(
    ...(node?.gpus ?? []).map((g) => {
      const taken = g.state === "rented" || g.state === "unhealthy";
      return el(
        "label",
        {},
        el("input", { type: "checkbox", value: String(g.index), checked: !taken && ticked.has(String(g.index)), disabled: taken }),
        `GPU ${g.index} · ${g.model} · ${g.state}`,
      );
    }),
  );
}

/** A command as words split on spaces, or as a JSON array of strings. */
function parseCommand(text) {
  const t = text.trim();
  if (!t) return [];
  if (t.startsWith("[")) {
    const parsed = JSON.parse(t);
    if (!Array.isArray(parsed) || !parsed.every((w) => typeof w === "string")) throw new Error("the command must be a JSON array of strings");
    return parsed;
  }
  return t.split(/\s+/);
}

async function startRental() {
  const value = (id) => /** @type {HTMLInputElement} */ ($(id)).value.trim();
  const nodeId = value("rent-node");
  const gpuIds = [...$("rent-gpu-list").querySelectorAll("input:checked")].map((i) => i.value);
  const body = {
    image: value("rent-image"),
    command: parseCommand(value("rent-command")),
    maxDurationSeconds: Math.round(Number(value("rent-duration") || "0") * 60),
  };
  const key = value("rent-key");
  if (key) body.sshPublicKey = key;
  if (nodeId) body.nodeId = nodeId;
  if (gpuIds.length) body.gpuIds = gpuIds;
  else body.gpuCount = Number(value("rent-count") || "1");
  if (!nodeId && value("rent-model")) body.gpuModel = value("rent-model");
  const r = await api("POST", "/v1/rentals", body);
  state.rentals.set(r.id, { role: "renter", rental: r });
  renderRentals();
}

// ------------------------------------------------------------------ start

const submit = $("rent-submit");
$("rent-form").addEventListener("submit", action(submit, startRental));
$("rent-node").addEventListener("change", renderGpuChoices);
$("sign-in").addEventListener("click", action($("sign-in"), signIn));
$("sign-out").addEventListener("click", action($("sign-out"), signOut));
$("error-close").addEventListener("click", clearError);
// Not action(): the button stays disabled after the withdrawal while the balance is 0.
$("withdraw").addEventListener("click", () => {
  clearError();
  withdraw().catch(showError);
});
setWallet(null);
connect();
setInterval(tick, 1000);
setInterval(slideCharts, SLIDE_MS);
const refreshPaid = async () => {
  await refreshChain();
  await refreshEarnings();
};
void refreshPaid();
setInterval(refreshPaid, CHAIN_REFRESH_MS);
