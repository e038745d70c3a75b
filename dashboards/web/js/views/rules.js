// Rules page: every alerting rule with its health and how many alerts it has pending and firing.

import { el, replace, errorBox, badge, ago, fmtDuration } from "../dom.js";
import { get } from "../api.js";
import { t } from "../i18n.js";

function field(r, ...names) {
  for (const n of names) if (r && r[n] !== undefined) return r[n];
  return undefined;
}

// eventText describes an event rule: its kind, and its count threshold and grouping when it has them.
function eventText(ev) {
  if (!ev) return "";
  const kind = field(ev, "Kind", "kind") || "event";
  const threshold = field(ev, "Threshold", "threshold");
  const win = field(ev, "Window", "window");
  const by = field(ev, "By", "by");
  const match = field(ev, "Match", "match");
  let s = t("rules.event", { kind });
  if (match && Object.keys(match).length) s += " " + t("rules.event_where", { match: Object.entries(match).map(([k, v]) => `${k}="${v}"`).join(", ") });
  if (threshold) s += ", " + t("rules.event_threshold", { n: threshold, window: dur(win) });
  if (by && by.length) s += " " + t("rules.event_by", { labels: by.join(", ") });
  return s;
}

function dur(ns) { return typeof ns === "number" && ns > 0 ? fmtDuration(ns / 1e9) : "—"; }

// render draws the rules table.
export function render(root) {
  const body = el("div", { "aria-live": "polite" }, el("p", { class: "muted" }, t("page.loading")));
  replace(root, el("h1", {}, t("nav.rules")), body);
  let stop = false;
  async function load() {
    try {
      const data = await get("/api/rules");
      if (stop) return;
      const list = (data && data.rules) || [];
      replace(body, el("div", { class: "table-wrap", tabindex: "0" }, el("table", { class: "rules" },
        el("thead", {}, el("tr", {}, ["rules.col.alert", "rules.col.group", "rules.col.expression", "rules.col.for", "rules.col.severity", "rules.col.health", "rules.col.last_eval", "rules.col.pending", "rules.col.firing", "rules.col.source"].map((h) => el("th", { scope: "col" }, t(h))))),
        el("tbody", {}, list.map((x) => {
          const r = x.rule || x;
          const name = field(r, "Alert", "alert", "name");
          const expr = field(r, "Expr", "expr") || eventText(field(r, "Event", "event"));
          const labels = field(r, "Labels", "labels") || {};
          return el("tr", { "data-rule": name },
            el("th", { scope: "row" }, name),
            el("td", {}, field(r, "Group", "group") || ""),
            el("td", {}, el("code", {}, expr)),
            el("td", {}, dur(field(r, "For", "for"))),
            el("td", {}, labels.severity ? badge(labels.severity) : "—"),
            el("td", {}, badge(x.health || "unknown"), x.last_error ? el("small", { class: "error" }, ` ${x.last_error}`) : ""),
            el("td", {}, x.last_eval ? ago(x.last_eval) : "—"),
            el("td", { class: "num" }, String(x.pending ?? "")),
            el("td", { class: "num" }, String(x.firing ?? "")),
            el("td", {}, el("small", {}, `${field(r, "File", "file") || ""}${field(r, "Line", "line") ? ":" + field(r, "Line", "line") : ""}`)));
        })))));
    } catch (e) { if (!stop) replace(body, errorBox(e)); }
  }
  load();
  const timer = setInterval(load, 10000);
  return () => { stop = true; clearInterval(timer); };
}
