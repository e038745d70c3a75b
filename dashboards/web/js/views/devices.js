// Devices page: every device, silent ones first, with last seen, battery and signal when reported. Readings
// past an alerting rule's threshold are marked (icon, words and colour), as on the site page.

import { el, replace, refill, fmtValue, siteHref, deviceSite, metricLabel } from "../dom.js";
import { t } from "../i18n.js";
import { onThresholds, judge } from "../thresholds.js";
import { subscribe, pageState } from "../live.js";
import { onTick } from "../clock.js";
import { deviceFreshness, freshnessText, bySilence } from "../freshness.js";

const HIDDEN = new Set(["seq", "battery", "rssi"]);

// render draws the devices table.
export function render(root, params) {
  const filter = el("input", { id: "dev-filter", type: "search", placeholder: t("devices.filter_placeholder"), value: params.query.get("q") || "" });
  // The table changes every second; only its summary is a live region, so screen readers hear when devices
  // turn silent or the page turns stale, not every tick.
  const body = el("div", {}, el("p", { class: "muted" }, t("page.loading")));
  const summary = el("p", { class: "muted", "aria-live": "polite" });
  replace(root, el("h1", {}, t("nav.devices")),
    el("div", { class: "toolbar" }, el("label", { for: "dev-filter" }, t("devices.filter")), filter), summary, body);
  let thresholds = [];
  let last = [];
  let shown = []; // [device, row's "last seen" cell, row] as drawn
  const summarize = (list, page) => {
    const fs = list.map((d) => deviceFreshness(d, page));
    const silent = fs.filter((f) => f.silent).length;
    const text = page.live ? t("devices.summary", { n: list.length, silent })
      : `${t("devices.count", { n: list.length })} ${freshnessText({ state: "stale", dataAt: page.dataAt })}.`;
    if (summary.textContent !== text) summary.textContent = text;
  };
  const rowClass = (f) => f.state === "stale" ? "stale" : f.silent ? "silent" : "";
  // reading is one value of a device, marked when a rule's threshold is crossed.
  const reading = (d, k, x) => {
    const j = judge(thresholds, k, d.labels, x);
    return el("span", { class: `reading${j.level ? ` level-${j.level}` : ""}`, "data-metric": k, "data-level": j.level || "ok",
      title: j.level ? t("threshold.crossed", { rule: j.th.alert, op: j.th.op, limit: fmtValue(k, j.th.value), severity: t(`severity.${j.level}`) }) : null },
    j.level ? (j.level === "critical" ? "⚠ " : "▲ ") : "", `${metricLabel(k)} ${fmtValue(k, x)}`,
    j.level ? el("span", { class: "sr-only" }, ` (${t("threshold.crossed", { rule: j.th.alert, op: j.th.op, limit: fmtValue(k, j.th.value), severity: t(`severity.${j.level}`) })})`) : "");
  };
  // tick re-renders every row's freshness from the timestamps, in place.
  const tick = () => {
    const page = pageState();
    for (const [d, cell, row] of shown) {
      const f = deviceFreshness(d, page);
      if (row.className !== rowClass(f)) row.className = rowClass(f);
      if (row.dataset.fresh !== f.state) row.dataset.fresh = f.state;
      const text = freshnessText(f);
      if (cell.textContent !== text) cell.textContent = text;
    }
    summarize(shown.map(([d]) => d), page);
  };
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const page = pageState();
    const list = last.filter((d) => !q || JSON.stringify([d.id, d.labels, Object.keys(d.last_values || {})]).toLowerCase().includes(q))
      .sort(bySilence(page));
    refill(body, el("div", { class: "table-wrap", tabindex: "0" }, el("table", { class: "devices" },
      el("thead", {}, el("tr", {}, ["devices.col.device", "devices.col.site", "devices.col.last_seen", "devices.col.battery", "devices.col.signal", "devices.col.readings", "devices.col.messages", "devices.col.errors"].map((h) => el("th", { scope: "col" }, t(h))))),
      el("tbody", {}, list.map((d) => {
        const v = d.last_values || {};
        const f = deviceFreshness(d, page);
        return el("tr", { "data-device": d.id, class: rowClass(f), "data-fresh": f.state },
          el("th", { scope: "row" }, d.labels?.device || d.id),
          el("td", {}, el("a", { href: siteHref(deviceSite(d)) }, deviceSite(d))),
          el("td", { class: "age" }, freshnessText(f)),
          el("td", {}, "battery" in v ? fmtValue("battery", v.battery) : "—"),
          el("td", {}, "rssi" in v ? fmtValue("rssi", v.rssi) : "—"),
          el("td", { class: "readings" }, Object.entries(v).filter(([k]) => !HIDDEN.has(k)).map(([k, x], i) => [i ? " · " : "", reading(d, k, x)])),
          el("td", { class: "num" }, String(d.messages)),
          el("td", { class: "num" }, String(d.errors)));
      })))));
    // refill may keep the rows shown: pair each device with the row on the page.
    const rows = new Map([...body.querySelectorAll("tr[data-device]")].map((r) => [r.dataset.device, r]));
    shown = list.map((d) => [d, rows.get(d.id)?.querySelector("td.age"), rows.get(d.id)]).filter(([, c]) => c);
    tick();
  };
  filter.addEventListener("input", draw);
  const unsubs = [subscribe("devices", (l) => { last = l; draw(); }), onTick(tick),
    onThresholds((list) => { thresholds = list; if (last.length) draw(); })];
  return () => unsubs.forEach((u) => u());
}
