// Overview: every site the user may see, coloured by its worst condition, with counts, and the firing alerts.

import { el, replace, refill, deviceSite, siteHref, alertSite } from "../dom.js";
import { subscribe, pageState } from "../live.js";
import { onTick, hhmmss } from "../clock.js";
import { deviceFreshness } from "../freshness.js";
import { alertTable, stateOf } from "../alertui.js";
import { t } from "../i18n.js";

// siteSummaries folds devices, cameras and alerts into one summary per site. page is live.js pageState().
export function siteSummaries(devices, cameras, alerts, page = { live: true, dataAt: Date.now() }) {
  const sites = new Map();
  const get = (name) => {
    if (!sites.has(name)) sites.set(name, { name, district: "", devices: 0, silent: 0, cameras: 0, camerasDown: 0, firing: 0, critical: 0, pending: 0 });
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
      if (a.labels?.severity === "critical") s.critical++;
    } else if (st === "pending") s.pending++;
  }
  for (const s of sites.values()) {
    s.status = s.critical ? "critical" : (s.firing || s.camerasDown || s.silent) ? "warning" : "ok";
  }
  return [...sites.values()].sort((a, b) => ({ critical: 0, warning: 1, ok: 2 }[a.status] - { critical: 0, warning: 1, ok: 2 }[b.status]) || a.name.localeCompare(b.name));
}

const STATUS_TEXT = { critical: "overview.status.critical", warning: "overview.status.warning", ok: "overview.status.ok" };

// render draws the overview.
export function render(root, params, ctx) {
  const grid = el("div", { class: "grid sites", "aria-live": "polite", "aria-busy": "true" }, el("p", { class: "muted" }, t("page.loading")));
  const alertsBox = el("div");
  replace(root, el("h1", {}, t("nav.overview")),
    el("section", { "aria-labelledby": "sites-h" }, el("h2", { id: "sites-h" }, t("overview.sites")), grid),
    el("section", { "aria-labelledby": "firing-h" }, el("h2", { id: "firing-h" }, t("overview.firing")), alertsBox));
  let devices = null, cameras = null, alerts = null;
  const drawSites = () => {
    if (!devices || !cameras || !alerts) return;
    grid.removeAttribute("aria-busy");
    const page = pageState();
    const sums = siteSummaries(devices, cameras, alerts, page);
    const stale = page.live ? null : el("p", { class: "small stale-note" }, t("live.no_data_since", { time: hhmmss(page.dataAt) }));
    if (!sums.length) { refill(grid, el("p", { class: "muted" }, t("overview.no_sites"))); return; }
    refill(grid, sums.map((s) => el("a", { class: `card site-card status-${s.status}${stale ? " stale" : ""}`, href: siteHref(s.name), "data-site": s.name },
      el("h3", {}, s.name, " ", el("span", { class: `badge state-${s.status}` }, t(STATUS_TEXT[s.status]))),
      s.district ? el("p", { class: "muted" }, s.district) : null,
      el("dl", { class: "counts" },
        el("div", {}, el("dt", {}, t("overview.devices")), el("dd", {}, String(s.devices), s.silent ? el("small", {}, ` (${t("overview.n_silent", { n: s.silent })})`) : "")),
        el("div", {}, el("dt", {}, t("overview.cameras")), el("dd", {}, String(s.cameras), s.camerasDown ? el("small", {}, ` (${t("overview.n_down", { n: s.camerasDown })})`) : "")),
        el("div", {}, el("dt", {}, t("overview.firing_count")), el("dd", { class: s.firing ? "hot" : "" }, String(s.firing)))),
      stale && stale.cloneNode(true))));
  };
  const draw = () => {
    if (!devices || !cameras || !alerts) return;
    drawSites();
    refill(alertsBox, alertTable(alerts.filter((a) => ["firing", "acknowledged", "silenced"].includes(stateOf(a))), ctx,
      { caption: t("overview.firing"), empty: t("overview.nothing_firing") }));
  };
  const unsubs = [
    subscribe("devices", (l) => { devices = l; draw(); }),
    subscribe("cameras", (l) => { cameras = l; draw(); }),
    subscribe("alerts", (l) => { alerts = l; draw(); }),
    onTick(drawSites), // devices turn silent, and the page stale, without news
  ];
  return () => unsubs.forEach((u) => u());
}
