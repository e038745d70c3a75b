// A camera's timeline: what happened, newest first — alerts about the camera starting and ending (a flapping
// episode once) and event clips (motion, tamper) with their thumbnail (the clip's first frame; it plays the
// clip too) and a button that plays the clip in the page's player. An alert's start shows the thumbnail of
// the clip recorded nearest it (within 2 min), when there is one.

import { el, timeEl, badge } from "./dom.js";
import { t, tOr } from "./i18n.js";

// clipSrc is the URL of a camera's clip.
export function clipSrc(camera, clip) {
  return `/api/cameras/${encodeURIComponent(camera)}/clips/${encodeURIComponent(clip)}`;
}

// play shows player and plays src in it.
export function play(player, src) {
  player.hidden = false;
  player.src = src;
  player.play().catch(() => {}); // autoplay refusals leave the controls to the user
  player.focus();
}

// timeline renders events (GET /api/cameras/{id}/timeline) of camera; clips play in player.
export function timeline(camera, events, player) {
  if (!events.length) return el("p", { class: "muted" }, t("timeline.empty"));
  return el("ol", { class: "timeline" }, events.map((e) => {
    const what = e.kind === "clip" ? [badge("clip", "▶ " + t("timeline.clip")), " ", tOr(`timeline.reason.${e.reason}`, e.reason)]
      : e.kind === "resolved" ? [badge("resolved", "✓ " + t("timeline.ended")), " ", e.reason]
        : [badge("firing", "⚠ " + t("timeline.alert")), " ", e.reason, e.flapping ? [" ", badge("flapping", t("alerts.flapping"))] : ""];
    const act = [];
    let thumb = null;
    // An alert carries the clip recorded nearest its start (the server picks it): its thumbnail, which plays
    // it, as a motion event's does.
    if ((e.kind === "clip" && !e.recording) || (e.kind === "alert" && e.clip)) {
      const src = clipSrc(camera, e.clip);
      // Its size is reserved (CSS), it loads when scrolled near, and a clip without a still (no ffmpeg, being
      // masked) just shows none.
      const img = el("img", { class: "clip-thumb", src: `${src}/thumbnail.jpg`, loading: "lazy", decoding: "async", width: 160, height: 90,
        alt: t("timeline.thumb_alt", { clip: e.clip }) });
      img.addEventListener("error", () => { img.hidden = true; });
      thumb = el("button", { type: "button", class: "thumb-button", "aria-label": t("timeline.play_label", { clip: e.clip }), onclick: () => play(player, src) }, img);
    }
    if (e.kind === "clip" && e.recording) act.push(el("span", { class: "muted" }, t("timeline.recording")));
    else if (e.kind === "clip") {
      const src = clipSrc(camera, e.clip);
      act.push(el("button", { type: "button", class: "small", "data-play-clip": e.clip,
        "aria-label": t("timeline.play_label", { clip: e.clip }), onclick: () => play(player, src) }, t("timeline.play")),
      " ", el("a", { href: src + "?download=1", download: `${camera}-${e.clip}.mp4` }, t("timeline.download")));
    }
    return el("li", { "data-kind": e.kind, "data-clip": e.clip || null, "data-alert": e.alert ? String(e.alert) : null },
      thumb || "", timeEl(e.time), " ", what, act.length ? [" ", el("span", { class: "actions" }, act)] : "");
  }));
}
