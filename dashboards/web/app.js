// Interim live page until the full dashboard UI lands: devices with their last values, a PromQL query box and
// the rejected-message list. Everything is read from the JSON API; nothing is built.
const $ = (id) => document.getElementById(id);
const fmt = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2));

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function ageSeconds(t) { return Math.max(0, (Date.now() - Date.parse(t)) / 1000); }

function renderDevices(devices) {
  $("device-count").textContent = `(${devices.length})`;
  const bySite = new Map();
  for (const d of devices) {
    const site = (d.labels && d.labels.site) || "unassigned";
    if (!bySite.has(site)) bySite.set(site, []);
    bySite.get(site).push(d);
  }
  const root = el("div");
  for (const [site, list] of [...bySite.entries()].sort()) {
    list.sort((a, b) => ageSeconds(b.last_seen) - ageSeconds(a.last_seen));
    const tiles = el("div", { class: "tiles" });
    for (const d of list) {
      const age = ageSeconds(d.last_seen);
      const dl = el("dl");
      for (const [k, v] of Object.entries(d.last_values || {}).sort()) {
        if (k === "seq") continue;
        dl.append(el("dt", {}, k), el("dd", { "data-metric": k }, fmt(v)));
      }
      tiles.append(el("article", { class: "tile" + (age > 30 ? " silent" : ""), "data-device": d.id },
        el("h4", {}, (d.labels && d.labels.device) || d.id), dl,
        el("div", { class: "age" }, `last seen ${age.toFixed(0)} s ago · ${d.messages} msgs · ${d.errors} errors`)));
    }
    root.append(el("div", { class: "site" }, el("h3", {}, site), tiles));
  }
  $("sites").replaceChildren(root);
}

function renderCameras(list) {
  $("camera-count").textContent = `(${list.length})`;
  $("cameras").replaceChildren(...list.map((c) => el("article", { class: "tile", "data-camera": c.id },
    el("h4", {}, c.name, " ", el("span", { class: "badge " + c.state }, c.state)),
    el("div", { class: "age" }, `${c.site} · ${c.reason}`),
    el("div", { class: "age" }, c.codec ? `${c.codec} ${c.width}×${c.height} · ${c.fps.toFixed(1)} fps · ${(c.bitrate_bps / 1000).toFixed(0)} kbit/s · ${c.reconnects} reconnects` : `${c.reconnects} reconnects`))));
}

async function ack(id) {
  const comment = prompt("Acknowledge with a comment (who is handling it):", "") ;
  if (comment === null) return;
  await fetch(`/api/alerts/${id}/ack`, { method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify({ comment }) });
  refresh();
}

function renderAlerts(list) {
  const active = list.filter((a) => a.state !== "resolved");
  $("alert-count").textContent = `(${active.length} active)`;
  $("alerts").replaceChildren(...list.slice(0, 30).map((a) => {
    const acked = a.acked_by ? `${a.acked_by}` : el("button", { type: "button", "data-ack": a.id }, "Acknowledge");
    if (!a.acked_by && a.state !== "resolved") acked.addEventListener("click", () => ack(a.id));
    return el("tr", { "data-alert": a.id }, el("td", {}, el("span", { class: "badge " + (a.state === "firing" ? "offline" : a.state === "pending" ? "degraded" : "online") }, a.state)),
      el("td", {}, a.rule), el("td", {}, (a.labels && a.labels.site) || ""), el("td", {}, (a.annotations && a.annotations.summary) || ""),
      el("td", {}, new Date(a.active_at).toLocaleTimeString()), el("td", {}, a.state === "resolved" ? (a.acked_by || "") : acked));
  }));
}

function renderRejected(list) {
  $("rejected").replaceChildren(...list.slice(0, 20).map((r) =>
    el("tr", {}, el("td", {}, new Date(r.time).toLocaleTimeString()), el("td", {}, r.topic),
      el("td", {}, r.reason), el("td", {}, r.error))));
}

let csrf = "";

function toLogin() {
  location.assign("/login?next=" + encodeURIComponent(location.pathname));
}

async function getJSON(url) {
  const res = await fetch(url, { credentials: "same-origin" });
  if (res.status === 401) toLogin();
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return res.json();
}

async function whoami() {
  const me = await getJSON("/api/me");
  csrf = me.csrf_token || "";
  $("who").textContent = `${me.user} (${me.role})`;
  return me;
}

$("logout").addEventListener("click", async () => {
  await fetch("/api/logout", { method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" });
  toLogin();
});

async function refresh() {
  try {
    const [dev, rej, cams, al] = await Promise.all([getJSON("/api/devices"),
      getJSON("/api/ingest/rejected").catch(() => ({ rejected: [] })), // operators and admins only
      getJSON("/api/cameras").catch(() => ({ cameras: [] })),
      getJSON("/api/alerts?limit=50").catch(() => ({ alerts: [] }))]);
    renderAlerts(al.alerts || []);
    renderDevices(dev.devices || []);
    renderCameras(cams.cameras || []);
    renderRejected(rej.rejected || []);
    $("status").textContent = "live";
    $("status").className = "ok";
  } catch (e) {
    $("status").textContent = "disconnected: " + e.message;
    $("status").className = "bad";
  }
}

$("query-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const q = new URLSearchParams({ query: $("query").value });
  try {
    const res = await fetch("/api/v1/query?" + q);
    const body = await res.json();
    if (body.status !== "success") { $("query-result").textContent = body.error; return; }
    const lines = (body.data.result || []).map((s) => {
      const { __name__, ...labels } = s.metric;
      const ls = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(", ");
      return `${__name__ || ""}{${ls}} ${s.value ? s.value[1] : JSON.stringify(s.values)}`;
    });
    $("query-result").textContent = lines.join("\n") || "(no data)";
  } catch (e) {
    $("query-result").textContent = String(e);
  }
});

whoami().then(() => {
  refresh();
  setInterval(refresh, 2000);
}).catch(() => {});
