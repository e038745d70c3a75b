// Alert tables and the acknowledge / silence dialogs shared by the alerts, site and overview pages.

import { el, replace, timeEl, ago, badge, isAcked, announce, siteHref, cameraHref } from "./dom.js";
import { post } from "./api.js";
import { refresh } from "./live.js";
import { t, localized } from "./i18n.js";
import { previewBox, watchState } from "./silencepreview.js";

// phone reports the phone layout (the CSS breakpoint): alerts are cards there, and Acknowledge acts at once.
export const phone = () => matchMedia("(max-width: 640px)").matches;

const SEVERITY_ORDER = { critical: 0, warning: 1, info: 2 };

// sortAlerts orders by severity, then newest first.
export function sortAlerts(list) {
  return [...list].sort((a, b) =>
    (SEVERITY_ORDER[a.labels?.severity] ?? 3) - (SEVERITY_ORDER[b.labels?.severity] ?? 3) ||
    Date.parse(b.active_at) - Date.parse(a.active_at));
}

// stateOf is the state shown to people: firing alerts someone took are "acknowledged".
export function stateOf(a) {
  if (a.state === "firing" && isAcked(a)) return "acknowledged";
  if (a.state === "firing" && a.silenced_by && a.silenced_by.length) return "silenced";
  return a.state;
}

function subject(a) {
  const l = a.labels || {};
  const bits = [];
  if (l.site) bits.push(el("a", { href: siteHref(l.site) }, l.site));
  if (l.camera) bits.push(" · ", el("a", { href: cameraHref(l.camera) }, l.camera));
  if (l.device) bits.push(` · ${l.device}`);
  if (l.kind) bits.push(` · ${l.kind}`);
  return bits;
}

// alertTable renders alerts with their actions (those the user may take). On a phone the same rows are cards
// (style.css): state, rule and place first, 44 px buttons, and an optional comment field beside Acknowledge,
// which acknowledges with one tap.
export function alertTable(list, ctx, { caption = t("alerts.caption"), empty = t("alerts.none") } = {}) {
  if (!list.length) return el("p", { class: "muted empty" }, empty);
  const rows = sortAlerts(list).map((a) => {
    const st = stateOf(a);
    const actions = [];
    const commentId = `ackc-${a.id}`;
    if (a.state !== "resolved" && ctx.can("ack") && !isAcked(a)) {
      actions.push(el("label", { for: commentId, class: "sr-only phone-only" }, t("ack.comment_optional")),
        el("input", { id: commentId, class: "ack-inline phone-only", name: "comment", placeholder: t("ack.comment_optional"), autocomplete: "off" }),
        el("button", { type: "button", class: "small", "data-action": "ack",
          "aria-label": t("ack.button_label", { rule: a.rule, site: a.labels?.site || "" }), onclick: (ev) => ackNow(a, ev.currentTarget) }, t("ack.button")));
    }
    if (a.state !== "resolved" && ctx.can("silence")) {
      actions.push(el("button", { type: "button", class: "small secondary", "data-action": "silence",
        "aria-label": t("silence.button_label", { rule: a.rule, site: a.labels?.site || "" }), onclick: () => silenceDialog(a) }, t("silence.button")));
    }
    const sev = a.labels?.severity || "none";
    return el("tr", { "data-alert-id": a.id, "data-state": st, class: `sev-${sev}` },
      el("td", { "data-label": t("alerts.col.state") }, badge(st), a.flapping ? [" ", badge("flapping", t("alerts.flapping_times", { n: a.flap_count || 0 }))] : ""),
      el("td", { "data-label": t("alerts.col.severity") }, badge(sev, (sev === "critical" ? "⚠ " : sev === "warning" ? "▲ " : "") + (sev === "none" ? "—" : t(`severity.${sev === "critical" ? "critical" : sev === "warning" ? "warning" : "info"}`)))),
      el("th", { scope: "row" }, el("a", { href: `#/alert/${encodeURIComponent(a.id)}` }, a.rule)),
      el("td", { "data-label": t("alerts.col.where") }, subject(a)),
      el("td", { "data-label": t("alerts.col.summary") }, localized(a.annotations, "summary")),
      el("td", { "data-label": t("alerts.col.when") }, a.state === "resolved" ? [t("alerts.resolved_at"), " ", timeEl(a.resolved_at)] : [t("alerts.since"), " ", el("span", { title: a.active_at }, ago(a.active_at))]),
      el("td", { "data-label": t("alerts.col.acked") }, isAcked(a) ? [el("strong", {}, a.acked_by), a.ack_comment ? `: ${a.ack_comment}` : "", el("br"), el("small", {}, ago(a.acked_at))] : el("span", { class: "muted" }, "—")),
      el("td", { class: "actions" }, actions));
  });
  return el("div", { class: "table-wrap", tabindex: "0" }, el("table", { class: "alerts" },
    el("caption", { class: "sr-only" }, caption),
    el("thead", {}, el("tr", {}, ["alerts.col.state", "alerts.col.severity", "alerts.col.alert", "alerts.col.where", "alerts.col.summary", "alerts.col.when", "alerts.col.acked", "alerts.col.actions"].map((h) => el("th", { scope: "col" }, t(h))))),
    el("tbody", {}, rows)));
}

// ackNow acknowledges at once on a phone (with the comment typed beside the button, if any); elsewhere it
// opens the dialog that asks for a comment.
async function ackNow(a, button) {
  if (!phone()) { ackDialog(a); return; }
  const input = button.parentElement?.querySelector("input.ack-inline");
  button.disabled = true;
  try {
    await post(`/api/alerts/${encodeURIComponent(a.id)}/ack`, { comment: input ? input.value : "" });
    announce(t("ack.done", { rule: a.rule }));
    refresh();
  } catch (e) {
    button.disabled = false;
    announce(e.message);
    alert(e.message);
  }
}

// dialog opens a modal <dialog> with a form; submit(form) returns a promise, errors stay in the dialog.
function dialog(title, fields, submitLabel, submit) {
  const err = el("p", { class: "error", role: "alert" });
  const form = el("form", { method: "dialog" }, el("h2", {}, title), fields, err,
    el("div", { class: "buttons" },
      el("button", { type: "submit" }, submitLabel),
      el("button", { type: "button", class: "secondary", onclick: () => d.close() }, t("dialog.cancel"))));
  const d = el("dialog", { "aria-label": title }, form);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    const btn = form.querySelector("button[type=submit]");
    btn.disabled = true;
    try {
      await submit(form);
      d.close();
      refresh();
    } catch (e) {
      err.textContent = e.message;
    } finally {
      btn.disabled = false;
    }
  });
  d.addEventListener("close", () => d.remove());
  document.body.append(d);
  d.showModal();
  return d;
}

// ackDialog asks for an optional comment and acknowledges the alert.
export function ackDialog(a) {
  dialog(t("ack.title", { rule: a.rule }), [
    el("p", {}, localized(a.annotations, "summary")),
    el("label", { for: "ack-comment" }, t("ack.comment_label")),
    el("textarea", { id: "ack-comment", name: "comment", rows: 3 }),
  ], t("ack.button"), async (form) => {
    await post(`/api/alerts/${encodeURIComponent(a.id)}/ack`, { comment: form.comment.value });
    announce(t("ack.done", { rule: a.rule }));
  });
}

const DURATIONS = [["1h", 3600], ["4h", 14400], ["12h", 43200], ["24h", 86400], ["7d", 604800]];

// silenceDialog creates a silence prefilled with the alert's labels.
export function silenceDialog(a) {
  const labels = Object.entries(a.labels || {}).filter(([k]) => k !== "severity");
  const matchers = labels.map(([k, v], i) => el("div", { class: "matcher" },
    el("input", { type: "checkbox", id: `m-${i}`, name: "m", value: String(i), checked: true }),
    el("label", { for: `m-${i}` }, el("code", {}, `${k}="${v}"`))));
  const preview = previewBox(stateOf);
  const changed = watchState(a, stateOf);
  const chosenMatchers = (root) => [...root.querySelectorAll("input[name=m]:checked")]
    .map((c) => labels[Number(c.value)]).map(([name, value]) => ({ name, op: "=", value }));
  const d = dialog(t("silence.title", { rule: a.rule }), [
    changed.warn,
    el("fieldset", { onchange: (ev) => preview.update(chosenMatchers(ev.currentTarget)) }, el("legend", {}, t("silence.match")), matchers),
    el("h3", {}, t("silence.preview")), preview.box,
    el("label", { for: "sil-duration" }, t("silence.duration")),
    el("select", { id: "sil-duration", name: "duration" }, DURATIONS.map(([l, s]) => el("option", { value: String(s), selected: s === 14400 }, l))),
    el("label", { for: "sil-comment" }, t("silence.comment")),
    el("textarea", { id: "sil-comment", name: "comment", rows: 2, required: true }),
  ], t("silence.create"), async (form) => {
    const chosen = [...form.querySelectorAll("input[name=m]:checked")].map((c) => labels[Number(c.value)]);
    if (!chosen.length) throw new Error(t("silence.need_matcher"));
    const now = new Date();
    const ends = new Date(now.getTime() + Number(form.duration.value) * 1000);
    const res = await post("/api/silences", {
      matchers: chosen.map(([name, value]) => ({ name, op: "=", value })),
      starts_at: now.toISOString(), ends_at: ends.toISOString(), comment: form.comment.value,
    });
    announce(t("silence.created", { id: res && res.id ? res.id : "" }));
    document.dispatchEvent(new Event("citywatch:silences")); // lists of silences reload now
  });
  d.addEventListener("close", changed.stop);
  preview.update(chosenMatchers(d));
}

// countBy counts alerts per state as shown.
export function countBy(list) {
  const c = { firing: 0, pending: 0, acknowledged: 0, silenced: 0, resolved: 0 };
  for (const a of list) c[stateOf(a)] = (c[stateOf(a)] || 0) + 1;
  return c;
}

export { replace };
