// Alerts page: tabs for firing, pending, acknowledged and resolved alerts plus the full history, grouped by
// rule and site with counts (flapping alerts marked), acknowledge and silence actions, and the silences list.

import { el, replace, refill, timeEl, badge, errorBox, announce } from "../dom.js";
import { subscribe } from "../live.js";
import { get, del } from "../api.js";
import { stateOf, countBy } from "../alertui.js";
import { groupedAlerts } from "../alertgroups.js";
import { t } from "../i18n.js";

const TABS = [
  ["firing", "alerts.tab.firing", (a) => stateOf(a) === "firing"],
  ["pending", "alerts.tab.pending", (a) => a.state === "pending"],
  ["acknowledged", "alerts.tab.acknowledged", (a) => stateOf(a) === "acknowledged"],
  ["silenced", "alerts.tab.silenced", (a) => stateOf(a) === "silenced"],
  ["resolved", "alerts.tab.resolved", (a) => a.state === "resolved"],
  ["history", "alerts.tab.history", () => true],
];

// render draws the alerts page; params.tab selects the tab.
export function render(root, params, ctx) {
  const tab = TABS.find(([k]) => k === params.tab) ? params.tab : "firing";
  const tablist = el("div", { role: "tablist", "aria-label": t("alerts.states"), class: "tabs" });
  const panel = el("div", { role: "tabpanel", id: "alerts-panel", "aria-live": "polite", tabindex: "0" });
  const silences = el("div");
  replace(root, el("h1", {}, t("nav.alerts")), tablist, panel,
    el("section", { "aria-labelledby": "sil-h" }, el("h2", { id: "sil-h" }, t("silences.title")), silences));

  function drawTabs(counts) {
    refill(tablist, TABS.map(([k, label]) => el("a", {
      role: "tab", href: `#/alerts/${k}`, id: `tab-${k}`, "aria-selected": String(k === tab), "aria-controls": "alerts-panel",
      "data-tab": k, class: k === tab ? "tab active" : "tab",
    }, t(label), counts && k !== "history" ? ` (${counts[k] || 0})` : "")));
    panel.setAttribute("aria-labelledby", `tab-${tab}`);
  }
  drawTabs(null);
  tablist.addEventListener("keydown", (ev) => {
    if (ev.key !== "ArrowRight" && ev.key !== "ArrowLeft") return;
    const i = TABS.findIndex(([k]) => k === tab);
    const next = TABS[(i + (ev.key === "ArrowRight" ? 1 : TABS.length - 1)) % TABS.length][0];
    location.hash = `#/alerts/${next}`;
  });

  const filter = TABS.find(([k]) => k === tab)[2];
  const open = new Set(); // groups the user expanded, kept across live redraws
  const unsub = subscribe("alerts", (all) => {
    drawTabs(countBy(all));
    const list = all.filter(filter);
    refill(panel, groupedAlerts(list, ctx, { caption: t(TABS.find(([k]) => k === tab)[1]), empty: t("alerts.none_in", { tab: t(TABS.find(([k]) => k === tab)[1]) }) }, open));
  });

  async function loadSilences() {
    try {
      const data = await get("/api/silences");
      const list = (data && data.silences) || [];
      if (!list.length) { replace(silences, el("p", { class: "muted" }, t("silences.none"))); return; }
      replace(silences, el("div", { class: "table-wrap", tabindex: "0" }, el("table", {},
        el("thead", {}, el("tr", {}, ["silences.col.status", "silences.col.matchers", "silences.col.from", "silences.col.until", "silences.col.by", "silences.col.comment", "silences.col.actions"].map((h) => el("th", { scope: "col" }, t(h))))),
        el("tbody", {}, list.map((s) => el("tr", { "data-silence": s.id },
          el("td", {}, badge(s.status || "active")),
          el("td", {}, (s.matchers || []).map((m) => el("code", {}, `${m.name}${m.op}"${m.value}" `))),
          el("td", {}, timeEl(s.starts_at)), el("td", {}, timeEl(s.ends_at)),
          el("td", {}, s.created_by || ""), el("td", {}, s.comment || ""),
          el("td", {}, ctx.can("silence") && s.status !== "expired" ? el("button", { type: "button", class: "small secondary", onclick: async (ev) => {
            ev.target.disabled = true;
            try { await del(`/api/silences/${encodeURIComponent(s.id)}`); announce(t("silences.expired")); } catch (e) { alert(e.message); }
            loadSilences();
          } }, t("silences.expire")) : "")))))));
    } catch (e) { replace(silences, errorBox(e)); }
  }
  loadSilences();
  const timer = setInterval(loadSilences, 10000);
  document.addEventListener("citywatch:silences", loadSilences);
  return () => { unsub(); clearInterval(timer); document.removeEventListener("citywatch:silences", loadSilences); };
}
