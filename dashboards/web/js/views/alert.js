// Alert detail: what fired, where and when, the values of its device or camera series at the moment it fired
// (an instant query of the TSDB at the alert's start, through the site-scoped Prometheus API), and the evidence:
// the camera's clips recorded around the alert, playable here, and its current snapshot while it fires.

import { el, replace, badge, timeEl, errorBox, isZeroTime, fmtValue, metricLabel, cameraHref, siteHref } from "../dom.js";
import { get } from "../api.js";
import { stateOf } from "../alertui.js";
import { clipSrc, play } from "../timeline.js";
import { t, localized } from "../i18n.js";

// around is how far before its start and after its end a clip still belongs to an alert.
const around = 2 * 60 * 1000;

function quote(s) { return `"${String(s).replace(/["\\]/g, "\\$&")}"`; }

// selectorOf is the series selector of the thing the alert is about: its device or camera at its site.
export function selectorOf(labels) {
  const l = labels || {};
  const parts = ["device", "camera"].filter((k) => l[k]).map((k) => `${k}=${quote(l[k])}`);
  if (!parts.length) return "";
  if (l.site) parts.push(`site=${quote(l.site)}`);
  return `{${parts.join(",")}}`;
}

// render draws alert params.id.
export function render(root, params, ctx) {
  const abort = new AbortController();
  const player = el("video", { controls: true, class: "clip-player", hidden: true, "aria-label": t("timeline.player") });
  replace(root, el("p", { class: "muted" }, t("alert.loading")));
  (async () => {
    let a;
    try {
      a = await get(`/api/alerts/${encodeURIComponent(params.id)}`, { signal: abort.signal });
    } catch (e) {
      if (e.name === "AbortError") return;
      replace(root, el("h1", {}, t("alert.not_found")), errorBox(e));
      return;
    }
    const l = a.labels || {};
    const values = el("div", { "aria-live": "polite" }, el("p", { class: "muted" }, t("alert.loading")));
    const evidence = el("div", { "aria-live": "polite" });
    const firedAt = !isZeroTime(a.fired_at) ? a.fired_at : a.active_at;
    replace(root,
      el("h1", {}, a.rule, " ", badge(stateOf(a)), a.flapping ? [" ", badge("flapping", t("alerts.flapping_times", { n: a.flap_count || 0 }))] : ""),
      el("p", { class: "alert-summary" }, localized(a.annotations, "summary")),
      localized(a.annotations, "description") ? el("p", { class: "muted alert-description" }, localized(a.annotations, "description")) : "",
      el("dl", { class: "kv" },
        el("div", {}, el("dt", {}, t("alerts.col.where")), el("dd", {}, l.site ? el("a", { href: siteHref(l.site) }, l.site) : "—",
          l.camera ? [" · ", el("a", { href: cameraHref(l.camera) }, l.camera)] : "", l.device ? ` · ${l.device}` : "")),
        el("div", {}, el("dt", {}, t("alert.started")), el("dd", {}, timeEl(a.active_at))),
        el("div", {}, el("dt", {}, t("alert.fired")), el("dd", {}, isZeroTime(a.fired_at) ? "—" : timeEl(a.fired_at))),
        el("div", {}, el("dt", {}, t("alert.ended")), el("dd", {}, isZeroTime(a.resolved_at) ? "—" : timeEl(a.resolved_at))),
        el("div", {}, el("dt", {}, t("alerts.col.acked")), el("dd", {}, a.acked_by ? `${a.acked_by}${a.ack_comment ? `: ${a.ack_comment}` : ""}` : "—")),
        el("div", {}, el("dt", {}, t("alert.labels")), el("dd", {}, Object.entries(l).map(([k, v]) => el("code", {}, `${k}="${v}" `))))),
      el("section", { "aria-labelledby": "al-values-h" }, el("h2", { id: "al-values-h" }, t("alert.values_at_fire")), values),
      l.camera ? el("section", { "aria-labelledby": "al-ev-h" }, el("h2", { id: "al-ev-h" }, t("alert.evidence")), player, evidence) : "");

    const sel = selectorOf(l);
    if (!sel) replace(values, el("p", { class: "muted" }, t("alert.no_series")));
    else {
      try {
        const qs = new URLSearchParams({ query: sel, time: (Date.parse(firedAt) / 1000).toFixed(3) });
        const data = await get(`/api/v1/query?${qs}`, { signal: abort.signal });
        const rows = (data?.data?.result || []).map((s) => {
          const name = s.metric.__name__ || "";
          return el("tr", { "data-metric": name }, el("th", { scope: "row" }, metricLabel(name)),
            el("td", { class: "num" }, fmtValue(name, Number(s.value[1]))));
        });
        replace(values, rows.length ? el("table", {}, el("caption", { class: "sr-only" }, t("alert.values_at_fire")),
          el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("alert.series")), el("th", { scope: "col" }, t("alert.value")))),
          el("tbody", {}, rows)) : el("p", { class: "muted" }, t("alert.no_values")));
      } catch (e) { if (e.name !== "AbortError") replace(values, errorBox(e)); }
    }
    if (!l.camera) return;
    if (!ctx.can("video")) { replace(evidence, el("p", { class: "muted" }, t("camera.no_video_permission"))); return; }
    const from = Date.parse(a.active_at) - around;
    const to = (isZeroTime(a.resolved_at) ? Date.now() : Date.parse(a.resolved_at)) + around;
    try {
      const data = await get(`/api/cameras/${encodeURIComponent(l.camera)}/clips`, { signal: abort.signal });
      const clips = (data?.clips || []).filter((c) => { const at = Date.parse(c.event_time); return at >= from && at <= to; });
      replace(evidence,
        a.state === "firing" ? el("figure", {}, el("img", { src: `/api/cameras/${encodeURIComponent(l.camera)}/snapshot.jpg`, alt: t("alert.snapshot_alt", { camera: l.camera }), width: 320 }),
          el("figcaption", {}, t("alert.snapshot_now"))) : "",
        clips.length ? el("ul", {}, clips.map((c) => el("li", { "data-clip": c.id }, timeEl(c.event_time), " ", c.reason || "", " ",
          c.recording ? el("span", { class: "muted" }, t("timeline.recording")) :
            el("button", { type: "button", class: "small", "data-play-clip": c.id, "aria-label": t("timeline.play_label", { clip: c.id }),
              onclick: () => play(player, clipSrc(l.camera, c.id)) }, t("timeline.play"))))) :
          el("p", { class: "muted" }, t("alert.no_clips")));
    } catch (e) { if (e.name !== "AbortError") replace(evidence, errorBox(e)); }
  })();
  return () => { abort.abort(); player.removeAttribute("src"); };
}
