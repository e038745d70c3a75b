// Alerts page: tabs for firing, pending, acknowledged and resolved alerts plus the full history, acknowledge
// and silence actions, and the silences list.

import { el, replace, refill, timeEl, badge, errorBox, announce } from "../dom.js";
import { subscribe } from "../live.js";
import { get, del } from "../api.js";
import { alertTable, stateOf, countBy } from "../alertui.js";

const TABS = [
  ["firing", "Firing", (a) => stateOf(a) === "firing"],
  ["pending", "Pending", (a) => a.state === "pending"],
  ["acknowledged", "Acknowledged", (a) => stateOf(a) === "acknowledged"],
  ["silenced", "Silenced", (a) => stateOf(a) === "silenced"],
  ["resolved", "Resolved", (a) => a.state === "resolved"],
  ["history", "History", () => true],
];

// render draws the alerts page; params.tab selects the tab.
export function render(root, params, ctx) {
  const tab = TABS.find(([k]) => k === params.tab) ? params.tab : "firing";
  const tablist = el("div", { role: "tablist", "aria-label": "Alert states", class: "tabs" });
  const panel = el("div", { role: "tabpanel", id: "alerts-panel", "aria-live": "polite", tabindex: "0" });
  const silences = el("div");
  replace(root, el("h1", {}, "Alerts"), tablist, panel,
    el("section", { "aria-labelledby": "sil-h" }, el("h2", { id: "sil-h" }, "Silences"), silences));

  function drawTabs(counts) {
    refill(tablist, TABS.map(([k, label]) => el("a", {
      role: "tab", href: `#/alerts/${k}`, id: `tab-${k}`, "aria-selected": String(k === tab), "aria-controls": "alerts-panel",
      "data-tab": k, class: k === tab ? "tab active" : "tab",
    }, label, counts && k !== "history" ? ` (${counts[k] || 0})` : "")));
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
  const unsub = subscribe("alerts", (all) => {
    drawTabs(countBy(all));
    const list = all.filter(filter);
    refill(panel, alertTable(list, ctx, { caption: `${tab} alerts`, empty: `No ${tab === "history" ? "" : tab + " "}alerts.` }));
  });

  async function loadSilences() {
    try {
      const data = await get("/api/silences");
      const list = (data && data.silences) || [];
      if (!list.length) { replace(silences, el("p", { class: "muted" }, "No silences.")); return; }
      replace(silences, el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, ["Status", "Matchers", "From", "Until", "By", "Comment", ""].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, list.map((s) => el("tr", { "data-silence": s.id },
          el("td", {}, badge(s.status || "active")),
          el("td", {}, (s.matchers || []).map((m) => el("code", {}, `${m.name}${m.op}"${m.value}" `))),
          el("td", {}, timeEl(s.starts_at)), el("td", {}, timeEl(s.ends_at)),
          el("td", {}, s.created_by || ""), el("td", {}, s.comment || ""),
          el("td", {}, ctx.can("silence") && s.status !== "expired" ? el("button", { type: "button", class: "small secondary", onclick: async (ev) => {
            ev.target.disabled = true;
            try { await del(`/api/silences/${encodeURIComponent(s.id)}`); announce("Silence expired"); } catch (e) { alert(e.message); }
            loadSilences();
          } }, "Expire") : "")))))));
    } catch (e) { replace(silences, errorBox(e)); }
  }
  loadSilences();
  const timer = setInterval(loadSilences, 10000);
  document.addEventListener("citywatch:silences", loadSilences);
  return () => { unsub(); clearInterval(timer); document.removeEventListener("citywatch:silences", loadSilences); };
}
