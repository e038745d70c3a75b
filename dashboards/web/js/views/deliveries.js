// Deliveries page: the notification outbox — what was sent where, its status, and replay.

import { el, replace, errorBox, badge, timeEl, announce } from "../dom.js";
import { get, post } from "../api.js";
import { t, tOr } from "../i18n.js";

// render draws the deliveries table.
export function render(root, params, ctx) {
  const status = el("select", { id: "dl-status" }, [["", "deliveries.any"], ["pending", "deliveries.status.pending"], ["delivered", "deliveries.status.delivered"], ["failed", "deliveries.status.failed"], ["dead", "deliveries.status.dead"]].map(([s, k]) => el("option", { value: s, selected: s === (params.query.get("status") || "") }, t(k))));
  const body = el("div", { "aria-live": "polite" }, el("p", { class: "muted" }, t("page.loading")));
  replace(root, el("h1", {}, t("deliveries.title")),
    el("div", { class: "toolbar" }, el("label", { for: "dl-status" }, t("deliveries.status"), " "), status), body);
  let stop = false;
  async function load() {
    try {
      const qs = new URLSearchParams({ limit: "200" });
      if (status.value) qs.set("status", status.value);
      const data = await get(`/api/deliveries?${qs}`);
      if (stop) return;
      const list = (data && data.deliveries) || [];
      if (!list.length) { replace(body, el("p", { class: "muted empty" }, t("deliveries.none"))); return; }
      replace(body, el("div", { class: "table-wrap", tabindex: "0" }, el("table", {},
        el("thead", {}, el("tr", {}, ["#", "deliveries.col.receiver", "deliveries.col.alert", "deliveries.col.state", "deliveries.col.status", "deliveries.col.attempts", "deliveries.col.last_error", "deliveries.col.created", "deliveries.col.delivered", ""].map((h) => el("th", { scope: "col" }, h.includes(".") ? t(h) : h)))),
        el("tbody", {}, list.map((d) => el("tr", { "data-delivery": d.id },
          el("td", { class: "num" }, String(d.id)), el("td", {}, d.receiver), el("td", {}, d.alert || ""),
          el("td", {}, d.state ? tOr(`state.${d.state}`, d.state) : ""), el("td", {}, badge(d.status || "unknown")),
          el("td", { class: "num" }, String(d.attempts ?? "")),
          el("td", {}, d.last_error ? [d.last_status_code ? `HTTP ${d.last_status_code}: ` : "", d.last_error] : "—"),
          el("td", {}, timeEl(d.created_at)), el("td", {}, d.delivered_at ? timeEl(d.delivered_at) : "—"),
          el("td", {}, ctx.can("replay") ? el("button", { type: "button", class: "small", onclick: async (ev) => {
            ev.target.disabled = true;
            try { await post(`/api/deliveries/${encodeURIComponent(d.id)}/replay`); announce(t("deliveries.requeued", { id: d.id })); } catch (e) { alert(e.message); }
            load();
          } }, t("deliveries.replay")) : "")))))));
    } catch (e) { if (!stop) replace(body, errorBox(e)); }
  }
  status.addEventListener("change", load);
  load();
  const timer = setInterval(load, 5000);
  return () => { stop = true; clearInterval(timer); };
}
