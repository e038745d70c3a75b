// Site page: live sensor tiles with sparklines, the site's cameras with live video, and its active alerts.

import { el, replace, refill, deviceSite, fmtValue, LABELS, alertSite, announce } from "../dom.js";
import { subscribe, pageState } from "../live.js";
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
    this.values = el("dl", { class: "values" });
    this.age = el("p", { class: "muted small age" });
    this.sparkBox = el("div", { class: "spark-box", "aria-hidden": "true" });
    this.metric = primaryMetric(d.last_values || {});
    this.sparkLabel = el("p", { class: "muted small" }, this.metric ? `${LABELS[this.metric] || this.metric}, last 15 min` : "");
    this.root = el("article", { class: "card sensor-tile", "data-device": d.id },
      el("h3", {}, d.labels?.device || d.id), this.values, this.sparkBox, this.sparkLabel, this.age);
    this.spark = this.metric ? new Sparkline(this.sparkBox) : null;
    this.update(d);
  }

  update(d) {
    this.d = d;
    const vals = d.last_values || {};
    const entries = Object.entries(vals).filter(([k]) => !HIDDEN.has(k)).sort(([a], [b]) => (PRIMARY.indexOf(a) + 1 || 99) - (PRIMARY.indexOf(b) + 1 || 99) || a.localeCompare(b));
    replace(this.values, entries.map(([k, v]) => el("div", { class: k === this.metric ? "primary" : "" },
      el("dt", {}, LABELS[k] || k), el("dd", { "data-metric": k }, fmtValue(k, v)))));
    this.renderAge(pageState());
    if (this.spark && this.metric in vals) this.spark.push(Date.parse(d.last_seen) / 1000, vals[this.metric]);
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
    const text = `${freshnessText(f)} · ${d.messages} msgs${d.errors ? ` · ${d.errors} error${d.errors === 1 ? "" : "s"}` : ""}`;
    if (this.age.textContent !== text) this.age.textContent = text;
    if (this.heardSilent === undefined) this.heardSilent = f.state === "silent"; // silent on arrival: not news
    if (f.state === "live") this.heardSilent = false;
  }

  // silentNews is, once per spell of silence, what to announce about it.
  silentNews() {
    if (this.heardSilent || this.root.dataset.fresh !== "silent") return "";
    this.heardSilent = true;
    return `${this.d.labels?.device || this.d.id} is silent`;
  }

  destroy() { if (this.spark) this.spark.destroy(); }
}

// render draws one site.
export function render(root, params, ctx) {
  const site = params.site;
  const sensors = el("div", { class: "grid sensors" }, el("p", { class: "muted" }, "Loading…"));
  const cameras = el("div", { class: "grid cameras" });
  const alertsBox = el("div", { "aria-live": "polite" });
  const camSection = el("section", { "aria-labelledby": "cams-h" }, el("h2", { id: "cams-h" }, "Cameras"), cameras);
  replace(root,
    el("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, el("a", { href: "#/" }, "Overview"), " › ", site),
    el("h1", {}, site),
    el("section", { "aria-labelledby": "site-alerts-h" }, el("h2", { id: "site-alerts-h" }, "Active alerts"), alertsBox),
    el("section", { "aria-labelledby": "sensors-h" }, el("h2", { id: "sensors-h" }, "Sensors"), sensors),
    camSection);

  const tiles = new Map();
  const camTiles = new Map();
  let seeded = false;
  let gone = false;
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

  const unsubs = [
    subscribe("devices", (all) => {
      const list = all.filter((d) => deviceSite(d) === site)
        .sort(bySilence(pageState()));
      if (!list.length) { replace(sensors, el("p", { class: "muted empty" }, "No sensors at this site.")); return; }
      if (!tiles.size) sensors.replaceChildren();
      const seen = new Set();
      for (const d of list) {
        seen.add(d.id);
        let t = tiles.get(d.id);
        if (!t) { t = new SensorTile(d); tiles.set(d.id, t); } else t.update(d);
      }
      for (const [id, t] of tiles) if (!seen.has(id)) { t.destroy(); t.root.remove(); tiles.delete(id); }
      // Silent devices first; appending an existing node moves it without rebuilding it.
      list.forEach((d) => sensors.append(tiles.get(d.id).root));
      if (!seeded) {
        seeded = true;
        seed([...new Set([...tiles.values()].map((t) => t.metric).filter(Boolean))]);
      }
    }),
    subscribe("cameras", (all) => {
      const list = all.filter((c) => (c.site || "unassigned") === site);
      camSection.hidden = !list.length && !camTiles.size;
      const seen = new Set();
      for (const c of list) {
        seen.add(c.id);
        const t = camTiles.get(c.id);
        if (t) t.update(c);
        else { const nt = new CameraTile(c, ctx); camTiles.set(c.id, nt); cameras.append(nt.root); }
      }
      for (const [id, t] of camTiles) if (!seen.has(id)) { t.destroy(); t.root.remove(); camTiles.delete(id); }
    }),
    subscribe("alerts", (all) => {
      refill(alertsBox, alertTable(all.filter((a) => alertSite(a) === site && a.state !== "resolved"), ctx,
        { caption: `Active alerts at ${site}`, empty: "No active alerts at this site." }));
    }),
    onTick(() => {
      const page = pageState();
      // Devices that just turned silent are announced (the tiles are not a live region: they tick).
      for (const t of tiles.values()) t.renderAge(page);
      const news = [...tiles.values()].map((t) => t.silentNews()).filter(Boolean);
      if (news.length) announce(news.length > 3 ? `${news.length} devices at ${site} turned silent.` : `${news.join(", ")}.`);
    }),
  ];
  return () => {
    gone = true;
    abort.abort();
    unsubs.forEach((u) => u());
    tiles.forEach((t) => t.destroy());
    camTiles.forEach((t) => t.destroy());
  };
}
