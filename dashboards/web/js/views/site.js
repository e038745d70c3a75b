// Site page: live sensor tiles with sparklines, the site's cameras with live video, and its active alerts.
// Readings are coloured by the alerting rules that watch them (thresholds.js): the tile says which rule's
// limit a value crossed, in words and with an icon, and its sparkline draws the limit. A firing alert about a
// device or camera marks its tile. The page is built once devices, cameras and alerts have all loaded, so
// nothing moves when they arrive one after another.

import { el, replace, refill, deviceSite, fmtValue, metricLabel, alertSite, announce } from "../dom.js";
import { subscribe, pageState } from "../live.js";
import { t } from "../i18n.js";
import { onThresholds, judge, watching, firingFor } from "../thresholds.js";
import { onTick } from "../clock.js";
import { deviceFreshness, freshnessText, bySilence } from "../freshness.js";
import { queryRange } from "../api.js";
import { Sparkline } from "../chart.js";
import { alertTable } from "../alertui.js";
import { CameraTile } from "../cameratile.js";

// PRIMARY is the order in which a tile picks the metric its sparkline follows.
const PRIMARY = ["body_temperature", "temperature", "water_level", "pm25", "co2", "noise", "heart_rate", "humidity"];
const HIDDEN = new Set(["seq"]);

function primaryMetric(values) {
  return PRIMARY.find((m) => m in values) || Object.keys(values).find((m) => !HIDDEN.has(m) && m !== "battery" && m !== "rssi");
}

class SensorTile {
  constructor(d) {
    this.id = d.id;
    this.d = d;
    this.thresholds = [];
    this.alerts = [];
    this.values = el("dl", { class: "values" });
    this.age = el("p", { class: "muted small age" });
    this.sparkBox = el("div", { class: "spark-box", "aria-hidden": "true" });
    this.metric = primaryMetric(d.last_values || {});
    this.sparkLabel = el("p", { class: "muted small" }, this.metric ? t("site.spark_label", { metric: metricLabel(this.metric) }) : "");
    this.alertNote = el("p", { class: "alert-note", hidden: true });
    this.root = el("article", { class: "card sensor-tile", "data-device": d.id },
      el("h3", {}, d.labels?.device || d.id), this.alertNote, this.values, this.sparkBox, this.sparkLabel, this.age);
    this.spark = this.metric ? new Sparkline(this.sparkBox) : null;
    this.update(d);
  }

  // setThresholds takes the rules' thresholds: values are judged by them and the sparkline draws its metric's.
  setThresholds(list) {
    this.thresholds = list;
    if (this.spark) this.spark.setThresholds(watching(list, this.metric, this.d.labels));
    this.update(this.d);
  }

  // setAlerts marks the tile with the firing alerts about this device.
  setAlerts(list) {
    const key = list.map((a) => a.id).join(",");
    if (key === this.alertKey) return;
    this.alertKey = key;
    this.alerts = list;
    this.renderMarks();
  }

  update(d) {
    this.d = d;
    const vals = d.last_values || {};
    const entries = Object.entries(vals).filter(([k]) => !HIDDEN.has(k)).sort(([a], [b]) => (PRIMARY.indexOf(a) + 1 || 99) - (PRIMARY.indexOf(b) + 1 || 99) || a.localeCompare(b));
    this.judged = [];
    refill(this.values, entries.map(([k, v]) => {
      const j = judge(this.thresholds, k, d.labels, v);
      if (j.level) this.judged.push([k, j]);
      return el("div", { class: [k === this.metric ? "primary" : "", j.level ? `level-${j.level}` : ""].filter(Boolean).join(" ") || null },
        el("dt", {}, metricLabel(k)),
        el("dd", { "data-metric": k, "data-level": j.level || "ok" }, j.level ? (j.level === "critical" ? "⚠ " : "▲ ") : "", fmtValue(k, v)),
        j.level ? el("dd", { class: "limit" }, t("threshold.crossed", { rule: j.th.alert, op: j.th.op, limit: fmtValue(k, j.th.value), severity: t(`severity.${j.level}`) })) : null);
    }));
    this.renderMarks();
    this.renderAge(pageState());
    if (this.spark && this.metric in vals) this.spark.push(Date.parse(d.last_seen) / 1000, vals[this.metric]);
  }

  // renderMarks sets the tile's level — the worst of its firing alerts and crossed thresholds — as a class,
  // data-level, and a line that says it in words.
  renderMarks() {
    const firingCrit = this.alerts.some((a) => a.labels?.severity === "critical");
    const crossedCrit = (this.judged || []).some(([, j]) => j.level === "critical");
    const level = firingCrit || crossedCrit ? "critical" : this.alerts.length || (this.judged || []).length ? "warning" : "";
    this.root.dataset.level = level || "ok";
    this.root.classList.toggle("level-critical", level === "critical");
    this.root.classList.toggle("level-warning", level === "warning");
    this.alertNote.hidden = !this.alerts.length;
    if (this.alerts.length) {
      refill(this.alertNote, el("span", { class: `badge state-${level}` }, level === "critical" ? "⚠ " : "▲ ", t("alerts.firing_badge")), " ",
        this.alerts.map((a) => a.rule).join(", "));
    }
  }

  // renderAge says how fresh the tile is, from the timestamps, on every update and every second: "last seen"
  // ticks, a device quiet past its own rhythm turns silent, and while the page is stale the tile is greyed and
  // says since when it has no data. data-fresh is live, silent, never or stale.
  renderAge(page) {
    const d = this.d;
    const f = deviceFreshness(d, page);
    this.root.classList.toggle("silent", f.state === "silent" || f.state === "never");
    this.root.classList.toggle("stale", f.state === "stale");
    this.root.dataset.silent = String(f.silent);
    this.root.dataset.fresh = f.state;
    const text = `${freshnessText(f)} · ${t("site.msgs", { n: d.messages })}${d.errors ? ` · ${t("site.errors", { n: d.errors })}` : ""}`;
    if (this.age.textContent !== text) this.age.textContent = text;
    if (this.heardSilent === undefined) this.heardSilent = f.state === "silent"; // silent on arrival: not news
    if (f.state === "live") this.heardSilent = false;
  }

  // silentNews is, once per spell of silence, what to announce about it.
  silentNews() {
    if (this.heardSilent || this.root.dataset.fresh !== "silent") return "";
    this.heardSilent = true;
    return t("site.device_silent", { device: this.d.labels?.device || this.d.id });
  }

  destroy() { if (this.spark) this.spark.destroy(); }
}

// render draws one site.
export function render(root, params, ctx) {
  const site = params.site;
  const sensors = el("div", { class: "grid sensors" });
  const cameras = el("div", { class: "grid cameras" });
  const alertsBox = el("div", { "aria-live": "polite" });
  const camSection = el("section", { "aria-labelledby": "cams-h", hidden: true }, el("h2", { id: "cams-h" }, t("site.cameras")), cameras);
  const body = el("div", { class: "site-body", hidden: true },
    el("section", { "aria-labelledby": "site-alerts-h" }, el("h2", { id: "site-alerts-h" }, t("site.active_alerts")), alertsBox),
    el("section", { "aria-labelledby": "sensors-h" }, el("h2", { id: "sensors-h" }, t("site.sensors")), sensors),
    camSection);
  const loading = el("p", { class: "muted loading-block" }, t("page.loading"));
  replace(root,
    el("nav", { class: "crumbs", "aria-label": t("page.breadcrumb") }, el("a", { href: "#/" }, t("nav.overview")), " › ", site),
    el("h1", {}, site), loading, body);

  const tiles = new Map();
  const camTiles = new Map();
  let seeded = false;
  let gone = false;
  let thresholds = [];
  let lastDevices = null, lastCameras = null, lastAlerts = null;
  const abort = new AbortController();

  async function seed(metrics) {
    for (const m of metrics) {
      try {
        const { result } = await queryRange(`{__name__="${m}",site="${site.replace(/["\\]/g, "\\$&")}"}`, 900, 180, abort.signal);
        if (gone) return;
        for (const r of result) {
          for (const t of tiles.values()) {
            if (t.metric === m && t.spark && t.id.endsWith(`/${r.metric.device}`)) {
              const live = t.spark.xs.map((x, i) => [x, t.spark.ys[i]]).filter(([x]) => x > Number(r.values.at(-1)?.[0] || 0));
              t.spark.seed([...r.values, ...live]);
            }
          }
        }
      } catch (e) { if (e.name !== "AbortError") console.warn("sparkline history", m, e); }
    }
  }

  function drawDevices(all) {
    const list = all.filter((d) => deviceSite(d) === site).sort(bySilence(pageState()));
    if (!list.length) { replace(sensors, el("p", { class: "muted empty" }, t("site.no_sensors"))); return; }
    if (!tiles.size) sensors.replaceChildren();
    const seen = new Set();
    for (const d of list) {
      seen.add(d.id);
      let tile = tiles.get(d.id);
      if (!tile) { tile = new SensorTile(d); tiles.set(d.id, tile); tile.setThresholds(thresholds); } else tile.update(d);
    }
    for (const [id, tile] of tiles) if (!seen.has(id)) { tile.destroy(); tile.root.remove(); tiles.delete(id); }
    // Silent devices first; appending an existing node moves it without rebuilding it.
    list.forEach((d) => sensors.append(tiles.get(d.id).root));
    if (!seeded) {
      seeded = true;
      seed([...new Set([...tiles.values()].map((tile) => tile.metric).filter(Boolean))]);
    }
  }

  function drawCameras(all) {
    const list = all.filter((c) => (c.site || "unassigned") === site);
    camSection.hidden = !list.length && !camTiles.size;
    const seen = new Set();
    for (const c of list) {
      seen.add(c.id);
      const tile = camTiles.get(c.id);
      if (tile) tile.update(c);
      else { const nt = new CameraTile(c, ctx); camTiles.set(c.id, nt); cameras.append(nt.root); }
    }
    for (const [id, tile] of camTiles) if (!seen.has(id)) { tile.destroy(); tile.root.remove(); camTiles.delete(id); }
  }

  function drawAlerts(all) {
    refill(alertsBox, alertTable(all.filter((a) => alertSite(a) === site && a.state !== "resolved"), ctx,
      { caption: t("site.active_alerts_at", { site }), empty: t("site.no_alerts") }));
    for (const tile of tiles.values()) tile.setAlerts(firingFor(all, { device: tile.d.labels?.device, site }));
    for (const tile of camTiles.values()) tile.setAlerts(firingFor(all, { camera: tile.id }));
  }

  // draw builds the page once all three lists are in, in one go, then follows each.
  function draw() {
    if (!lastDevices || !lastCameras || !lastAlerts) return;
    if (body.hidden) { loading.remove(); body.hidden = false; }
    drawDevices(lastDevices);
    drawCameras(lastCameras);
    drawAlerts(lastAlerts);
  }

  const unsubs = [
    subscribe("devices", (all) => { lastDevices = all; if (!body.hidden) drawDevices(all); else draw(); if (lastAlerts && !body.hidden) drawAlerts(lastAlerts); }),
    subscribe("cameras", (all) => { lastCameras = all; if (!body.hidden) { drawCameras(all); if (lastAlerts) drawAlerts(lastAlerts); } else draw(); }),
    subscribe("alerts", (all) => { lastAlerts = all; if (!body.hidden) drawAlerts(all); else draw(); }),
    onThresholds((list) => { thresholds = list; for (const tile of tiles.values()) tile.setThresholds(list); }),
    onTick(() => {
      const page = pageState();
      // Devices that just turned silent are announced (the tiles are not a live region: they tick).
      for (const tile of tiles.values()) tile.renderAge(page);
      const news = [...tiles.values()].map((tile) => tile.silentNews()).filter(Boolean);
      if (news.length) announce(news.length > 3 ? t("site.many_silent", { n: news.length, site }) : `${news.join(", ")}.`);
    }),
  ];
  return () => {
    gone = true;
    abort.abort();
    unsubs.forEach((u) => u());
    tiles.forEach((tile) => tile.destroy());
    camTiles.forEach((tile) => tile.destroy());
  };
}
