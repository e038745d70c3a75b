// Overview: every site the user may see, coloured by its worst condition and saying why in words ("1 fever,
// 1 camera down"), in a stable order; the city map of the sites; and the firing alerts.

import { el, replace, refill, deviceSite, siteHref, alertSite } from "../dom.js";
import { subscribe, pageState } from "../live.js";
import { onTick, hhmmss } from "../clock.js";
import { deviceFreshness } from "../freshness.js";
import { alertTable, stateOf } from "../alertui.js";
import { t } from "../i18n.js";
import { get } from "../api.js";
import { siteReasons, orderSites } from "../sitestatus.js";

// planCSS loads the plans' and the map's styles once.
function planCSS() {
  if (document.getElementById("plan-css")) return;
  document.head.append(el("link", { id: "plan-css", rel: "stylesheet", href: "/ui/plan.css" }));
}

// siteSummaries folds devices, cameras and alerts into one summary per site. page is live.js pageState().
// byRule counts the site's firing (or acknowledged) alerts per rule, with the rule's severity.
export function siteSummaries(devices, cameras, alerts, page = { live: true, dataAt: Date.now() }) {
  const sites = new Map();
  const get = (name) => {
    if (!sites.has(name)) sites.set(name, { name, district: "", devices: 0, silent: 0, cameras: 0, camerasDown: 0, firing: 0, critical: 0, pending: 0, byRule: {} });
    return sites.get(name);
  };
  for (const d of devices) {
    const s = get(deviceSite(d));
    s.district = s.district || d.labels?.district || "";
    s.devices++;
    if (deviceFreshness(d, page).silent) s.silent++;
  }
  for (const c of cameras) {
    const s = get(c.site || "unassigned");
    s.cameras++;
    if (c.state !== "online") s.camerasDown++;
  }
  for (const a of alerts) {
    const site = alertSite(a);
    if (!site) continue;
    const s = get(site);
    const st = stateOf(a);
    if (st === "firing" || st === "acknowledged") {
      s.firing++;
      const sev = a.labels?.severity || "warning";
      if (sev === "critical") s.critical++;
      const r = s.byRule[a.rule] || (s.byRule[a.rule] = { n: 0, severity: sev });
      r.n++;
      if (sev === "critical") r.severity = "critical";
    } else if (st === "pending") s.pending++;
  }
  for (const s of sites.values()) {
    s.status = s.critical ? "critical" : (s.firing || s.camerasDown || s.silent) ? "warning" : "ok";
  }
  return [...sites.values()].sort((a, b) => a.name.localeCompare(b.name));
}

const STATUS_TEXT = { critical: "overview.status.critical", warning: "overview.status.warning", ok: "overview.status.ok" };

// reasonLine is the card's "what is wrong" sentence; each part carries its severity's icon so it reads
// without colour.
function reasonLine(s) {
  const rs = siteReasons(s);
  if (!rs.length) return el("p", { class: "reasons ok" }, t("overview.all_well"));
  return el("p", { class: "reasons" }, rs.map((r, i) => [i ? ", " : "",
    el("span", { class: `reason sev-${r.severity}` }, r.severity === "critical" ? "⚠ " : "", r.text)]));
}

function siteCard(s, stale) {
  return el("div", { class: "site-cell" },
    el("a", { class: `card site-card status-${s.status}${stale ? " stale" : ""}`, href: siteHref(s.name), "data-site": s.name },
      el("h3", {}, s.name, " ", el("span", { class: `badge state-${s.status}` }, t(STATUS_TEXT[s.status]))),
      reasonLine(s),
      s.district ? el("p", { class: "muted" }, s.district) : null,
      el("dl", { class: "counts" },
        el("div", {}, el("dt", {}, t("overview.devices")), el("dd", {}, String(s.devices), s.silent ? el("small", {}, ` (${t("overview.n_silent", { n: s.silent })})`) : "")),
        el("div", {}, el("dt", {}, t("overview.cameras")), el("dd", {}, String(s.cameras), s.camerasDown ? el("small", {}, ` (${t("overview.n_down", { n: s.camerasDown })})`) : "")),
        el("div", {}, el("dt", {}, t("overview.firing_count")), el("dd", { class: s.firing ? "hot" : "" }, String(s.firing)))),
      stale && stale.cloneNode(true)),
    el("a", { class: "plan-link small", href: `#/plan/${encodeURIComponent(s.name)}`, "aria-label": t("plan.link_label", { site: s.name }) }, t("plan.link")));
}

// render draws the overview.
export function render(root, params, ctx) {
  planCSS();
  const grid = el("div", { class: "grid sites", "aria-live": "polite", "aria-busy": "true" }, el("p", { class: "muted" }, t("page.loading")));
  const alertsBox = el("div");
  const mapBox = el("div", { class: "map-box" });
  const mapSection = el("section", { "aria-labelledby": "map-h", hidden: true }, el("h2", { id: "map-h" }, t("map.title")), mapBox);
  replace(root, el("h1", {}, t("nav.overview")),
    el("section", { "aria-labelledby": "sites-h" }, el("h2", { id: "sites-h" }, t("overview.sites")), grid),
    mapSection,
    el("section", { "aria-labelledby": "firing-h" }, el("h2", { id: "firing-h" }, t("overview.firing")), alertsBox));
  let devices = null, cameras = null, alerts = null, mapCfg = null, map = null;
  const memory = new Map(); // orderSites' held places
  let sums = [];
  let gone = false;
  const drawMap = () => {
    if (!mapCfg || !mapCfg.sites.length || !map) return;
    const bySite = new Map(sums.map((s) => [s.name, s]));
    map.setSites(mapCfg.sites.map((l) => {
      const s = bySite.get(l.site);
      const status = s ? s.status : "ok";
      const why = s ? siteReasons(s).map((r) => r.text).join(", ") : "";
      return { ...l, status, href: siteHref(l.site), text: `${t(STATUS_TEXT[status])}${why ? `: ${why}` : ""}` };
    }));
  };
  const drawSites = () => {
    if (!devices || !cameras || !alerts) return;
    grid.removeAttribute("aria-busy");
    const page = pageState();
    sums = orderSites(siteSummaries(devices, cameras, alerts, page), memory, Date.now());
    const stale = page.live ? null : el("p", { class: "small stale-note" }, t("live.no_data_since", { time: hhmmss(page.dataAt) }));
    drawMap();
    if (!sums.length) { refill(grid, el("p", { class: "muted" }, t("overview.no_sites"))); return; }
    refill(grid, sums.map((s) => siteCard(s, stale)));
  };
  const draw = () => {
    if (!devices || !cameras || !alerts) return;
    drawSites();
    refill(alertsBox, alertTable(alerts.filter((a) => ["firing", "acknowledged", "silenced"].includes(stateOf(a))), ctx,
      { caption: t("overview.firing"), empty: t("overview.nothing_firing") }));
  };
  const ctl = new AbortController();
  // The map's code loads only when there are sites to show.
  get("/api/map", { signal: ctl.signal }).then(async (m) => {
    mapCfg = { ...m, sites: m.sites || [] };
    if (!mapCfg.sites.length) return;
    const { CityMap } = await import("../citymap.js");
    if (gone) return;
    map = new CityMap(mapCfg);
    mapSection.hidden = false;
    mapBox.append(map.root);
    drawMap();
  }).catch(() => {});
  const unsubs = [
    subscribe("devices", (l) => { devices = l; draw(); }),
    subscribe("cameras", (l) => { cameras = l; draw(); }),
    subscribe("alerts", (l) => { alerts = l; draw(); }),
    onTick(drawSites), // devices turn silent, and the page stale, without news
  ];
  return () => { gone = true; ctl.abort(); map?.destroy(); unsubs.forEach((u) => u()); };
}
