// The silence dialog's preview: which active alerts the chosen matchers would mute (asked of the server, which
// uses the silence's own matcher), and a warning when the alert being silenced changes state while the dialog
// is open.

import { el, replace } from "./dom.js";
import { post } from "./api.js";
import { subscribe } from "./live.js";
import { t } from "./i18n.js";

// previewBox returns the preview element and update(matchers), which redraws it (latest call wins); stateOf
// names an alert's state as the lists do (passed in: alertui.js imports this module).
export function previewBox(stateOf) {
  const box = el("div", { class: "silence-preview", "aria-live": "polite", "data-preview": "" });
  let seq = 0;
  async function update(matchers) {
    const mine = ++seq;
    if (!matchers.length) { replace(box, el("p", { class: "muted" }, t("silence.need_matcher"))); return; }
    try {
      const res = await post("/api/silences/preview", { matchers });
      if (mine !== seq) return;
      const list = res.alerts || [];
      replace(box,
        el("p", { "data-preview-count": String(res.count) }, t("silence.preview_count", { n: res.count })),
        list.length ? el("ul", { class: "preview-list" }, list.map((a) => el("li", { "data-preview-alert": String(a.id) },
          el("strong", {}, a.rule), " · ", Object.entries(a.labels || {}).filter(([k]) => k !== "alertname")
            .map(([k, v]) => `${k}=${v}`).join(", "), " · ", t(`state.${stateOf(a)}`),
          a.flapping ? [" · ", t("alerts.flapping")] : ""))) : "",
        res.permitted ? "" : el("p", { class: "error" }, t("silence.not_permitted")));
    } catch (e) {
      if (mine === seq) replace(box, el("p", { class: "error" }, e.message));
    }
  }
  return { box, update };
}

// watchState returns an element that warns when alert a's shown state differs from the one the dialog opened
// with (resolved, acknowledged, silenced by someone else...), and the function that stops watching.
export function watchState(a, stateOf) {
  const warn = el("p", { class: "warning", role: "alert", hidden: true, "data-state-changed": "" });
  const opened = stateOf(a);
  const stop = subscribe("alerts", (all) => {
    const now = all.find((x) => x.id === a.id);
    const st = now ? stateOf(now) : "resolved";
    if (st === opened) { warn.hidden = true; return; }
    warn.hidden = false;
    warn.textContent = t("silence.state_changed", { from: t(`state.${opened}`), to: t(`state.${st}`) });
  });
  return { warn, stop };
}
