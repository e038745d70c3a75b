// Devices page: every device, silent ones first, with last seen, battery and signal when reported.

import { el, replace, refill, ageSeconds, ago, SILENT_AFTER, fmtValue, siteHref, deviceSite, bySilence } from "../dom.js";
import { subscribe } from "../live.js";

const HIDDEN = new Set(["seq", "battery", "rssi"]);

// render draws the devices table.
export function render(root, params) {
  const filter = el("input", { id: "dev-filter", type: "search", placeholder: "site, device or metric", value: params.query.get("q") || "" });
  const body = el("div", { "aria-live": "polite" }, el("p", { class: "muted" }, "Loading…"));
  const summary = el("p", { class: "muted" });
  replace(root, el("h1", {}, "Devices"),
    el("div", { class: "toolbar" }, el("label", { for: "dev-filter" }, "Filter "), filter), summary, body);
  let last = [];
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const list = last.filter((d) => !q || JSON.stringify([d.id, d.labels, Object.keys(d.last_values || {})]).toLowerCase().includes(q))
      .sort(bySilence);
    const silent = list.filter((d) => ageSeconds(d.last_seen) > SILENT_AFTER).length;
    summary.textContent = `${list.length} devices, ${silent} silent for more than ${SILENT_AFTER} s.`;
    refill(body, el("div", { class: "table-wrap" }, el("table", { class: "devices" },
      el("thead", {}, el("tr", {}, ["Device", "Site", "Last seen", "Battery", "Signal", "Readings", "Messages", "Errors"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, list.map((d) => {
        const v = d.last_values || {};
        const isSilent = ageSeconds(d.last_seen) > SILENT_AFTER;
        return el("tr", { "data-device": d.id, class: isSilent ? "silent" : "" },
          el("th", { scope: "row" }, d.labels?.device || d.id),
          el("td", {}, el("a", { href: siteHref(deviceSite(d)) }, deviceSite(d))),
          el("td", {}, isSilent ? el("strong", {}, "silent · ") : "", ago(d.last_seen)),
          el("td", {}, "battery" in v ? fmtValue("battery", v.battery) : "—"),
          el("td", {}, "rssi" in v ? fmtValue("rssi", v.rssi) : "—"),
          el("td", {}, Object.entries(v).filter(([k]) => !HIDDEN.has(k)).map(([k, x]) => `${k} ${fmtValue(k, x)}`).join(" · ")),
          el("td", { class: "num" }, String(d.messages)),
          el("td", { class: "num" }, String(d.errors)));
      })))));
  };
  filter.addEventListener("input", draw);
  const unsub = subscribe("devices", (l) => { last = l; draw(); });
  return unsub;
}
