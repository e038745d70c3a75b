// Camera page: live view, health, motion and tamper status, health history charts, and the timeline of events
// (alerts about the camera and event clips, which play in place).

import { el, replace, badge, fmtBitrate, fmtDuration, timeEl, errorBox, siteHref, isZeroTime } from "../dom.js";
import { subscribe, merge } from "../live.js";
import { get, queryRange } from "../api.js";
import { timeChart } from "../chart.js";
import { CameraTile } from "../cameratile.js";
import { t } from "../i18n.js";
import { firingFor } from "../thresholds.js";
import { subscribe as subscribeLive } from "../live.js";
import { timeline } from "../timeline.js";

const RANGES = [["15m", 900], ["1h", 3600], ["6h", 21600], ["24h", 86400], ["7d", 604800]];
// REFRESH are the charts' auto-refresh periods (seconds; 0 is off), as on Explore; 30 s unless chosen.
const REFRESH = [0, 10, 30, 60, 300];
const REFRESH_DEFAULT = 30;

function kv(pairs) {
  return el("dl", { class: "kv" }, pairs.filter(Boolean).map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, v))));
}

function quote(s) { return `"${String(s).replace(/["\\]/g, "\\$&")}"`; }

// render draws one camera.
export function render(root, params, ctx) {
  const id = params.id;
  const head = el("div");
  const liveBox = el("div", { class: "camera-live" });
  const health = el("div", { "aria-live": "polite" });
  const analysis = el("div", { "aria-live": "polite" });
  const charts = el("div", { class: "charts" });
  const clips = el("div", { "aria-live": "polite" });
  const player = el("video", { controls: true, class: "clip-player", hidden: true, "aria-label": t("timeline.player") });
  const rangeSel = el("select", { id: "cam-range" }, RANGES.map(([l, s]) => el("option", { value: String(s), selected: s === 3600 }, t(`range.${l}`))));
  const refreshSel = el("select", { id: "cam-refresh" }, REFRESH.map((s) =>
    el("option", { value: String(s), selected: s === REFRESH_DEFAULT }, s ? t("refresh.every", { s: s >= 60 ? `${s / 60} min` : `${s} s` }) : t("refresh.off"))));
  replace(root, head, liveBox,
    el("div", { class: "two-col" },
      el("section", { "aria-labelledby": "health-h" }, el("h2", { id: "health-h" }, t("camera.health")), health),
      el("section", { "aria-labelledby": "analysis-h" }, el("h2", { id: "analysis-h" }, t("camera.analysis")), analysis)),
    el("section", { "aria-labelledby": "hist-h" }, el("h2", { id: "hist-h" }, t("camera.history")),
      el("div", { class: "chart-controls" }, el("label", { for: "cam-range" }, t("range.label")), rangeSel, " ",
        el("label", { for: "cam-refresh" }, t("refresh.label")), refreshSel), charts),
    el("section", { "aria-labelledby": "clips-h" }, el("h2", { id: "clips-h" }, t("timeline.title")), player, clips));

  let tile = null;
  let found = null;
  let destroyCharts = [];
  let clipTimer = 0;
  const abort = new AbortController();

  function notFound() {
    replace(root, el("h1", {}, t("camera.not_found")),
      el("p", {}, t("camera.not_found_text", { id }), " ", el("a", { href: "#/" }, t("page.to_overview"))));
  }

  // drawCharts queries and draws the charts. A refresh (again) keeps the shown charts until the new data is in
  // and swaps each in place, so the page neither flickers nor shifts.
  let drawing = 0;
  async function drawCharts(again = false) {
    const run = ++drawing;
    const secs = Number(rangeSel.value);
    const sel = `{camera=${quote(id)}}`;
    const specs = [[t("camera.chart.fps"), `camera_fps${sel}`, "fps"], [t("camera.chart.bitrate"), `camera_bitrate_bps${sel}`, "bit/s"], [t("camera.chart.up"), `camera_up${sel}`, ""]];
    if (!again || charts.children.length !== specs.length) {
      destroyCharts.forEach((d) => d && d());
      destroyCharts = [];
      replace(charts, specs.map(([title]) => el("figure", { class: "chart", "data-chart": title }, el("figcaption", {}, title), el("div", { class: "plot" }))));
    }
    await Promise.all(specs.map(async ([, expr, unit], i) => {
      const box = charts.children[i].querySelector(".plot");
      try {
        const { result, start, end } = await queryRange(expr, secs, 300, abort.signal);
        if (run !== drawing) return; // a newer drawing (range change) owns the charts
        if (destroyCharts[i]) destroyCharts[i]();
        destroyCharts[i] = timeChart(box, result, { unit, height: 160, start, end });
      } catch (e) { if (e.name !== "AbortError" && run === drawing) replace(box, errorBox(e)); }
    }));
    if (run === drawing) charts.dataset.drawn = String(Number(charts.dataset.drawn || 0) + 1);
  }
  let refreshTimer = 0;
  function scheduleRefresh() {
    clearInterval(refreshTimer);
    const s = Number(refreshSel.value);
    if (s > 0) refreshTimer = setInterval(() => { if (found && !document.hidden) drawCharts(true); }, s * 1000);
  }
  rangeSel.addEventListener("change", () => drawCharts());
  refreshSel.addEventListener("change", scheduleRefresh);
  scheduleRefresh();

  async function loadClips() {
    try {
      const data = await get(`/api/cameras/${encodeURIComponent(id)}/timeline`, { signal: abort.signal });
      replace(clips, timeline(id, (data && data.events) || [], player));
    } catch (e) {
      if (e.name === "AbortError") return;
      replace(clips, el("p", { class: "muted" }, t("timeline.unavailable", { error: e.message })));
    }
  }

  function draw(c) {
    replace(head,
      el("nav", { class: "crumbs", "aria-label": t("page.breadcrumb") }, el("a", { href: "#/" }, t("nav.overview")), " › ",
        el("a", { href: siteHref(c.site) }, c.site), " › ", c.name || c.id),
      el("h1", {}, c.name || c.id, " ", badge(c.state)));
    replace(health, kv([
      [t("camera.detail.state"), [badge(c.state), " ", c.reason || ""]],
      [t("camera.detail.since"), isZeroTime(c.since) ? "—" : timeEl(c.since)],
      [t("camera.detail.uptime"), c.state === "online" ? fmtDuration(c.uptime_seconds) : "—"],
      [t("camera.detail.stream"), c.codec ? `${c.codec} ${c.profile || ""} ${c.width}×${c.height}` : "—"],
      [t("camera.detail.frame_rate"), c.fps != null ? `${c.fps.toFixed(1)} fps${c.nominal_fps ? " " + t("camera.detail.nominal", { fps: c.nominal_fps }) : ""}` : "—"],
      [t("camera.detail.bitrate"), fmtBitrate(c.bitrate_bps)],
      [t("camera.detail.last_frame"), c.last_frame_age_seconds != null ? t("camera.detail.seconds_ago", { s: c.last_frame_age_seconds.toFixed(2) }) : "—"],
      [t("camera.detail.packet_loss"), c.packet_loss_ratio != null ? `${(c.packet_loss_ratio * 100).toFixed(2)} %` : "—"],
      [t("camera.detail.reconnects"), String(c.reconnects ?? 0)],
    ]));
    const a = c.analysis || {};
    if (!a.available) {
      replace(analysis, el("p", { class: "muted" }, a.reason ? t("camera.detail.analysis_unavailable_why", { reason: a.reason }) : t("camera.detail.analysis_unavailable")));
    } else {
      const tamper = Object.entries(a.tamper || {});
      replace(analysis, kv([
        ...Object.entries(a.motion || {}).map(([zone, score]) => [t("camera.detail.motion", { zone }),
          [el("meter", { min: 0, max: 1, value: score, "aria-label": t("camera.detail.motion_score", { zone }) }), ` ${(score * 100).toFixed(1)} %`,
            a.motion_active && a.motion_active[zone] ? " · " + t("camera.detail.active") : ""]]),
        [t("camera.detail.tamper"), tamper.some(([, v]) => v) ? tamper.filter(([, v]) => v).map(([k]) => badge("critical", k)) : t("camera.detail.none_detected")],
        a.fps != null ? [t("camera.detail.analysis_rate"), `${a.fps.toFixed(1)} fps`] : null,
      ]));
    }
  }

  let lastAlerts = [];
  const unsubAlerts = subscribeLive("alerts", (all) => { lastAlerts = all; if (tile) tile.setAlerts(firingFor(all, { camera: id })); });
  const unsub = subscribe("cameras", (all) => {
    const c = all.find((x) => x.id === id);
    if (!c) {
      if (found !== false) { found = false; if (tile) { tile.destroy(); tile = null; } notFound(); }
      return;
    }
    if (found === false) return; // already reported missing; a reload brings it back
    if (!found) {
      found = true;
      tile = new CameraTile(c, ctx, { large: true });
      liveBox.append(tile.root);
      drawCharts();
      loadClips();
      clipTimer = setInterval(loadClips, 15000);
    }
    tile.update(c);
    tile.setAlerts(firingFor(lastAlerts, { camera: id }));
    draw(c);
  });
  // Motion and tamper scores come with the REST answer only (the live stream carries the camera's status):
  // fetch this camera every few seconds while its page shows.
  const analysisTimer = setInterval(async () => {
    if (!found || document.hidden) return;
    try {
      merge("cameras", await get(`/api/cameras/${encodeURIComponent(id)}`, { signal: abort.signal }));
    } catch (e) {
      if (e.name !== "AbortError" && e.status !== 404) console.warn("camera analysis", e.message || e);
    }
  }, 3000);
  return () => {
    unsub();
    unsubAlerts();
    clearInterval(analysisTimer);
    clearInterval(clipTimer);
    clearInterval(refreshTimer);
    abort.abort();
    player.removeAttribute("src");
    if (tile) tile.destroy();
    destroyCharts.forEach((d) => d && d());
  };
}
