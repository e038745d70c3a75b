// Alert groups for the alerts page: one row per rule and site with its count, flapping members called out,
// expanded to the members' table. Thirty alerts of one flapping camera read as one line, not thirty.

import { el } from "./dom.js";
import { alertTable, sortAlerts } from "./alertui.js";
import { t } from "./i18n.js";

const SEV = { critical: 0, warning: 1, info: 2 };
const SMALL_GROUP = 3;

// groupAlerts groups list by rule and site, most severe group first, then the largest, then by name (stable).
export function groupAlerts(list) {
  const groups = new Map();
  for (const a of sortAlerts(list)) {
    const site = a.labels?.site || "";
    const key = `${a.rule}\u0000${site}`;
    if (!groups.has(key)) groups.set(key, { key, rule: a.rule, site, alerts: [] });
    groups.get(key).alerts.push(a);
  }
  const sev = (g) => Math.min(...g.alerts.map((a) => SEV[a.labels?.severity] ?? 3));
  return [...groups.values()].sort((a, b) => sev(a) - sev(b) || b.alerts.length - a.alerts.length ||
    a.rule.localeCompare(b.rule) || a.site.localeCompare(b.site));
}

// groupedAlerts renders list as groups; open remembers which groups the user expanded across redraws (live
// updates redraw the list), keyed by rule and site. A group of up to SMALL_GROUP alerts is shown expanded (its
// Acknowledge stays one tap away) unless the user closed it; a larger one is collapsed to its count.
export function groupedAlerts(list, ctx, opts, open) {
  if (!list.length) return alertTable(list, ctx, opts);
  return el("div", { class: "alert-groups" }, groupAlerts(list).map((g) => {
    const flapping = g.alerts.filter((a) => a.flapping).length;
    const d = el("details", { class: "alert-group", "data-group": `${g.rule}|${g.site}`, "data-count": String(g.alerts.length) },
      el("summary", {},
        el("strong", {}, g.rule), g.site ? ` · ${g.site}` : "", " ",
        el("span", { class: "badge count" }, t("alerts.group_count", { n: g.alerts.length })),
        flapping ? [" ", el("span", { class: "badge state-flapping" }, t("alerts.flapping_count", { n: flapping }))] : ""),
      alertTable(g.alerts, ctx, opts));
    const closedKey = `closed\u0000${g.key}`;
    d.open = open.has(g.key) || (g.alerts.length <= SMALL_GROUP && !open.has(closedKey));
    d.addEventListener("toggle", () => {
      if (d.open) { open.add(g.key); open.delete(closedKey); } else { open.delete(g.key); open.add(closedKey); }
    });
    return d;
  }));
}
