// The hub's dashboard: live nodes, the signed-in wallet's rentals, and a form to start one.
// A plain ES module served by the hub itself; it talks only to the hub's own REST API and
// GET /v1/events (Server-Sent Events). Every text goes into the page through textContent.

const ACTIVE = new Set(["starting", "running", "node_offline"]);

const state = {
  /** @type {string | null} */ wallet: null,
  /** @type {Map<string, any>} node id -> NodeLive */ nodes: new Map(),
  /** @type {Map<string, {role: string, rental: any}>} */ rentals: new Map(),
  /** server clock minus ours, from the snapshot: ages and the sign-in time follow the hub's clock */
  skewMs: 0,
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
  const eth = window.ethereum;
  if (!eth || typeof eth.request !== "function") throw new Error("No browser wallet found: install a wallet that provides window.ethereum (EIP-1193).");
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

async function signOut() {
  await api("POST", "/v1/auth/signout");
  setWallet(null);
  state.rentals.clear();
  renderRentals();
  connect();
}

function setWallet(wallet) {
  state.wallet = wallet;
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
    renderAllNodes();
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
const WEI_PER_ETH = 10n ** 18n;
/** Wei as ether with up to 6 decimals, exact (bigints): "0.0045 ETH". */
function ether(wei) {
  const v = BigInt(wei);
  const frac = (((v % WEI_PER_ETH) * 1_000_000n) / WEI_PER_ETH).toString().padStart(6, "0").replace(/0+$/, "");
  return `${v / WEI_PER_ETH}${frac ? `.${frac}` : ""} ETH`;
}
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
        el("td", { rowSpan: span }, el("span", { class: `badge node-status ${n.status}`, title: n.status === "draining" ? "online; takes no new rentals (node-daemon drain)" : undefined }, n.status)),
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
  const old = $("nodes").querySelector(`tbody[data-node-id="${CSS.escape(n.id)}"]`);
  if (old) old.replaceWith(body);
  else $("nodes").append(body);
}

// ------------------------------------------------------------------ rentals table

function renderRentals() {
  const tbody = $("rentals").querySelector("tbody");
  const entries = [...state.rentals.values()].sort((a, b) => Date.parse(b.rental.createdAt) - Date.parse(a.rental.createdAt));
  tbody.replaceChildren(...entries.map(rentalRow));
  $("no-rentals").hidden = entries.length > 0;
  renderEarnings();
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
setWallet(null);
connect();
setInterval(tick, 1000);
