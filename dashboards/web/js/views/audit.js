// Audit page (admins): who did what, when, from where; CSV export of the same filter.

import { el, replace, errorBox, timeEl, badge } from "../dom.js";
import { get } from "../api.js";
import { t } from "../i18n.js";

// render draws the audit table.
export function render(root, params) {
  const actor = el("input", { id: "au-actor", name: "actor", value: params.query.get("actor") || "" });
  const action = el("input", { id: "au-action", name: "action", value: params.query.get("action") || "" });
  const csv = el("a", { class: "button secondary", href: "/api/audit?format=csv" }, t("audit.download_csv"));
  const body = el("div", { "aria-live": "polite" });
  const form = el("form", { class: "toolbar" },
    el("label", { for: "au-actor" }, t("audit.actor"), " "), actor, el("label", { for: "au-action" }, t("audit.action"), " "), action,
    el("button", { type: "submit" }, t("audit.filter")), csv);
  replace(root, el("h1", {}, t("audit.title")), form, body);
  async function load() {
    const qs = new URLSearchParams({ limit: "500" });
    if (actor.value) qs.set("actor", actor.value);
    if (action.value) qs.set("action", action.value);
    const csvQs = new URLSearchParams(qs);
    csvQs.set("format", "csv");
    csv.href = `/api/audit?${csvQs}`;
    try {
      const data = await get(`/api/audit?${qs}`);
      const list = (data && (data.records || data.audit)) || [];
      if (!list.length) { replace(body, el("p", { class: "muted" }, t("audit.none"))); return; }
      replace(body, el("div", { class: "table-wrap", tabindex: "0" }, el("table", {},
        el("thead", {}, el("tr", {}, ["audit.col.time", "audit.col.actor", "audit.col.role", "audit.col.action", "audit.col.target", "audit.col.site", "audit.col.camera", "audit.col.ip", "audit.col.result", "audit.col.detail"].map((h) => el("th", { scope: "col" }, t(h))))),
        el("tbody", {}, list.map((r) => el("tr", {},
          el("td", {}, timeEl(r.time)), el("td", {}, r.actor || ""), el("td", {}, r.role || ""), el("td", {}, r.action || ""),
          el("td", {}, r.target || ""), el("td", {}, r.site || ""), el("td", {}, r.camera || ""), el("td", {}, r.ip || ""),
          el("td", {}, badge(r.success ? "ok" : "failed")), el("td", {}, r.detail || "")))))));
    } catch (e) { replace(body, errorBox(e)); }
  }
  form.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  load();
}
