// Devices page: every device, silent ones first, with last seen, battery and signal when reported.

import { el, replace, refill, fmtValue, siteHref, deviceSite } from "../dom.js";
import { subscribe, pageState } from "../live.js";
import { onTick } from "../clock.js";
import { deviceFreshness, freshnessText, bySilence } from "../freshness.js";

const HIDDEN = new Set(["seq", "battery", "rssi"]);

// render draws the devices table.
export function render(root, params) {
  const filter = el("input", { id: "dev-filter", type: "search", placeholder: "site, device or metric", value: params.query.get("q") || "" });
  // The table changes every second; only its summary is a live region, so screen readers hear when devices
  // turn silent or the page turns stale, not every tick.
  const body = el("div", {}, el("p", { class: "muted" }, "Loading…"));
  const summary = el("p", { class: "muted", "aria-live": "polite" });
  replace(root, el("h1", {}, "Devices"),
    el("div", { class: "toolbar" }, el("label", { for: "dev-filter" }, "Filter "), filter), summary, body);
  let last = [];
  let shown = []; // [device, row's "last seen" cell, row] as drawn
  const summarize = (list, page) => {
    const fs = list.map((d) => deviceFreshness(d, page));
    const silent = fs.filter((f) => f.silent).length;
    const text = page.live ? `${list.length} devices, ${silent} silent (quiet for longer than their usual message interval allows).`
      : `${list.length} devices. ${freshnessText({ state: "stale", dataAt: page.dataAt })}.`;
    if (summary.textContent !== text) summary.textContent = text;
  };
  const rowClass = (f) => f.state === "stale" ? "stale" : f.silent ? "silent" : "";
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
    refill(body, el("div", { class: "table-wrap" }, el("table", { class: "devices" },
      el("thead", {}, el("tr", {}, ["Device", "Site", "Last seen", "Battery", "Signal", "Readings", "Messages", "Errors"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, list.map((d) => {
        const v = d.last_values || {};
        const f = deviceFreshness(d, page);
        return el("tr", { "data-device": d.id, class: rowClass(f), "data-fresh": f.state },
          el("th", { scope: "row" }, d.labels?.device || d.id),
          el("td", {}, el("a", { href: siteHref(deviceSite(d)) }, deviceSite(d))),
          el("td", { class: "age" }, freshnessText(f)),
          el("td", {}, "battery" in v ? fmtValue("battery", v.battery) : "—"),
          el("td", {}, "rssi" in v ? fmtValue("rssi", v.rssi) : "—"),
          el("td", {}, Object.entries(v).filter(([k]) => !HIDDEN.has(k)).map(([k, x]) => `${k} ${fmtValue(k, x)}`).join(" · ")),
          el("td", { class: "num" }, String(d.messages)),
          el("td", { class: "num" }, String(d.errors)));
      })))));
    // refill may keep the rows shown: pair each device with the row on the page.
    const rows = new Map([...body.querySelectorAll("tr[data-device]")].map((r) => [r.dataset.device, r]));
    shown = list.map((d) => [d, rows.get(d.id)?.querySelector("td.age"), rows.get(d.id)]).filter(([, c]) => c);
    tick();
  };
  filter.addEventListener("input", draw);
  const unsubs = [subscribe("devices", (l) => { last = l; draw(); }), onTick(tick)];
  return () => unsubs.forEach((u) => u());
}
