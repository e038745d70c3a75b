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
import { deviceFreshness, freshnessText, sortBySilence } from "../freshness.js";
import { queryRange } from "../api.js";
import { Sparkline } from "../spark.js";
import { alertTable } from "../alertui.js";
import { CameraTile } from "../cameratile.js";

// PRIMARY is the order in which a tile picks the metric its sparkline follows.
const PRIMARY = ["body_temperature", "temperature", "water_level", "pm25", "co2", "noise", "heart_rate", "humidity"];
const HIDDEN = new Set(["seq"]);
// SWEEP_MS is how often tiles away from the screen have their level and freshness marks (data-level,
// data-fresh, data-silent: what the page's order and announcements follow) brought up to date. Their values,
// age text and sparklines are drawn only when they come near the screen.
const SWEEP_MS = 3000;
// AGES_MS is how long after the live devices last came the clock's tick draws the tiles' ages itself.
const AGES_MS = 1500;
// chunkSize is how many sensor tiles share a block. Blocks, not tiles, are what the page watches for nearness
// and what the browser skips off screen (content-visibility): with 500 tiles watched one by one, the
// intersection checks and the grid layout of all 500 after every live update were most of a phone's work each
// second. A phone shows one column: a block of 12 was 2,300 px tall, so the tiles "near" the screen (and
// redrawn every second) were two or three times those on it; blocks of 4 keep that close to a screenful.
const chunkSize = () => (window.matchMedia?.("(max-width: 640px)").matches ? 4 : 12);

function primaryMetric(values) {
  return PRIMARY.find((m) => m in values) || Object.keys(values).find((m) => !HIDDEN.has(m) && m !== "battery" && m !== "rssi");
}

class SensorTile {
  // resort() asks the page to order the tiles again (a device turned silent or live again).
  constructor(d, thresholds, resort = () => {}) {
    this.resort = resort;
    this.id = d.id;
    this.d = d;
    this.next = null; // a newer device state not shown yet (the tile is off screen)
    this.near = false; // near the screen, as the page's IntersectionObserver last said
    this.thresholds = thresholds;
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
    if (this.spark) this.spark.setThresholds(watching(thresholds, this.metric, d.labels));
    this.update(d);
  }

  // setThresholds takes the rules' thresholds: values are judged by them and the sparkline draws its metric's.
  setThresholds(list) {
    this.thresholds = list;
    if (this.spark) this.spark.setThresholds(watching(list, this.metric, this.d.labels));
    const d = this.latest();
    this.next = null;
    this.update(d);
  }

  // offer takes the device's latest state: shown now near the screen, otherwise kept until the tile comes
  // near it (catchUp). A site's tiles all change every second; drawing the ones nobody sees would block a
  // phone's page (total blocking time) for nothing. A tile holding a state it has not drawn says so to
  // assistive technology (aria-busy), which can read it off screen: its numbers are not the latest.
  offer(d) {
    if (this.near) { this.next = null; this.update(d); return; }
    if (!this.next) this.root.setAttribute("aria-busy", "true");
    this.next = d;
  }

  // latest is the newest state the tile has, shown or not.
  latest() { return this.next || this.d; }

  // catchUp shows what is pending: the newest state, or at least the age.
  catchUp() {
    if (this.next) {
      const d = this.next;
      this.next = null;
      this.root.removeAttribute("aria-busy");
      this.update(d);
    } else this.renderAge(pageState());
  }

  // sweep brings an off-screen tile's marks up to date without drawing it: its level by the newest values
  // and its freshness (data-level, data-fresh, data-silent, the classes), so the page's order, announcements
  // and a stale page's greying hold for every tile. The values, age text and sparkline wait for catchUp.
  sweep(page) {
    const d = this.latest();
    const vals = d.last_values || {};
    const judged = [];
    for (const k in vals) {
      if (HIDDEN.has(k)) continue;
      const j = judge(this.thresholds, k, d.labels, vals[k]);
      if (j.level) judged.push([k, j]);
    }
    this.judged = judged;
    this.renderMarks();
    this.renderFresh(deviceFreshness(d, page));
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
    const judged = entries.map(([k, v]) => [k, v, judge(this.thresholds, k, d.labels, v)]);
    this.judged = judged.filter(([, , j]) => j.level).map(([k, , j]) => [k, j]);
    // The same metrics at the same levels as shown: only the numbers change, in place (a site's tiles all
    // update every second; rebuilding each tile's list every time would be most of the page's work).
    const shape = judged.map(([k, , j]) => (j.level ? `${k}:${j.level}:${j.th.alert}:${j.th.op}:${j.th.value}` : k)).join(",");
    if (shape === this.shape && this.dds) {
      judged.forEach(([k, v, j], i) => {
        const text = (j.level ? (j.level === "critical" ? "⚠ " : "▲ ") : "") + fmtValue(k, v);
        if (this.dds[i].textContent !== text) this.dds[i].textContent = text;
      });
    } else {
      this.shape = shape;
      this.dds = [];
      refill(this.values, judged.map(([k, v, j]) => {
        const dd = el("dd", { "data-metric": k, "data-level": j.level || "ok" }, j.level ? (j.level === "critical" ? "⚠ " : "▲ ") : "", fmtValue(k, v));
        this.dds.push(dd);
        return el("div", { class: [k === this.metric ? "primary" : "", j.level ? `level-${j.level}` : ""].filter(Boolean).join(" ") || null },
          el("dt", {}, metricLabel(k)), dd,
          j.level ? el("dd", { class: "limit" }, t("threshold.crossed", { rule: j.th.alert, op: j.th.op, limit: fmtValue(k, j.th.value), severity: t(`severity.${j.level}`) })) : null);
      }));
      // refill may have kept the nodes already shown: point at the ones in the page.
      this.dds = [...this.values.querySelectorAll("dd[data-metric]")];
    }
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
    const key = `${level}|${this.alertKey || ""}`;
    if (key === this.marksKey) return; // every update calls this: unchanged marks cost nothing
    this.marksKey = key;
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
    this.renderFresh(f);
    const text = `${freshnessText(f)} · ${t("site.msgs", { n: d.messages })}${d.errors ? ` · ${t("site.errors", { n: d.errors })}` : ""}`;
    if (this.age.textContent !== text) this.age.textContent = text;
  }

  // renderFresh sets the freshness marks f (deviceFreshness) says.
  renderFresh(f) {
    // Every second for every tile: write only what changed, so an unchanged page costs no style work.
    if (this.silentFlag !== undefined && this.silentFlag !== f.silent) this.resort();
    if (this.fresh !== f.state || this.silentFlag !== f.silent) {
      this.fresh = f.state;
      this.silentFlag = f.silent;
      this.root.classList.toggle("silent", f.state === "silent" || f.state === "never");
      this.root.classList.toggle("stale", f.state === "stale");
      this.root.dataset.silent = String(f.silent);
      this.root.dataset.fresh = f.state;
    }
    if (this.heardSilent === undefined) this.heardSilent = f.state === "silent"; // silent on arrival: not news
    if (f.state === "live") this.heardSilent = false;
  }

  // silentNews is, once per spell of silence, what to announce about it.
  silentNews() {
    if (this.heardSilent || this.fresh !== "silent") return "";
    this.heardSilent = true;
    return t("site.device_silent", { device: this.d.labels?.device || this.d.id });
  }

  destroy() { if (this.spark) this.spark.destroy(); }
}

// render draws one site.
export function render(root, params, ctx) {
  const site = params.site;
  const sensors = el("div", { class: "sensor-chunks" }); // of div.grid.sensors.sensor-chunk, CHUNK tiles each
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
  let shownOrder = "";
  let resort = true, sortedIds = [], sortedAt = new Map(); // the devices' order, silent first (drawDevices)
  // Tiles away from the screen are not drawn: a tile coming near it draws its newest state at once (setNear).
  // Their marks are swept every SWEEP_MS, and at once when the page turns stale or live again, in idle time
  // and slices of a few milliseconds, so no task grows long.
  let sweepList = [], sweepTask = 0, sweptAt = -Infinity, sweptLive = true;
  const idle = window.requestIdleCallback ? (fn) => requestIdleCallback(fn, { timeout: 1000 }) : (fn) => setTimeout(fn, 16);
  const sweepSlice = () => {
    sweepTask = 0;
    if (gone) return;
    const page = pageState(), until = performance.now() + 8;
    while (sweepList.length && performance.now() < until) {
      const tile = sweepList.pop();
      if (!tile.near && tiles.get(tile.id) === tile) tile.sweep(page);
    }
    if (sweepList.length) sweepTask = idle(sweepSlice);
  };
  const sweep = (page) => {
    if (sweepTask && page.live === sweptLive) return;
    if (page.live === sweptLive && performance.now() - sweptAt < SWEEP_MS) return;
    sweptAt = performance.now();
    sweptLive = page.live;
    sweepList = [...tiles.values()].filter((tile) => !tile.near);
    if (!sweepTask && sweepList.length) sweepTask = idle(sweepSlice);
  };
  // A tile is near the screen when its block is, within 150 px: enough for a tile to catch up before it shows
  // when scrolled to, few enough tiles that redrawing them every second stays short (each changed number is
  // text laid out again: the layout of the tiles near the screen was most of a phone's frame).
  const CHUNK = chunkSize();
  const chunks = []; // the blocks, in order
  const chunkNear = new Map(); // block → near the screen
  const nearTiles = new Set();
  const setNear = (tile, on) => {
    if (tile.near === on && tile.sparkShown === on) return;
    tile.near = on;
    if (on) nearTiles.add(tile); else nearTiles.delete(tile);
    tile.sparkShown = on;
    if (tile.spark) tile.spark.setVisible(on);
    if (on) tile.catchUp();
  };
  const tileIO = new IntersectionObserver((entries) => {
    for (const e of entries) {
      chunkNear.set(e.target, e.isIntersecting);
      for (const root of e.target.children) {
        const tile = tiles.get(root.dataset.device);
        if (tile) setNear(tile, e.isIntersecting);
      }
    }
  }, { rootMargin: "150px" });
  // place puts the tiles of ids in order into the blocks, moving only those not where they belong (an
  // unchanged order moves nothing), and drops blocks left empty.
  const place = (ids) => {
    ids.forEach((id, i) => {
      const c = Math.floor(i / CHUNK);
      if (!chunks[c]) {
        chunks[c] = el("div", { class: "grid sensors sensor-chunk" });
        sensors.append(chunks[c]);
        tileIO.observe(chunks[c]);
      }
      const tile = tiles.get(id), chunk = chunks[c], at = chunk.children[i % CHUNK];
      if (at !== tile.root) chunk.insertBefore(tile.root, at || null);
      if (chunkNear.has(chunk)) setNear(tile, chunkNear.get(chunk));
    });
    while (chunks.length > Math.ceil(ids.length / CHUNK)) {
      const chunk = chunks.pop();
      tileIO.unobserve(chunk); chunkNear.delete(chunk); chunk.remove();
    }
  };
  // Tiles are built in slices too: the first screenful at once, the rest a slice per task.
  let building = 0, sensorsBuilt = false, camBuilding = 0;
  // Live video plays only in camera tiles near the screen (and while the tab is visible): 50 cameras below
  // 500 sensor tiles would otherwise decode 50 streams nobody sees.
  const camSeen = new Set();
  // Camera tiles away from the screen are not redrawn on every status report either: the newest report
  // waits (camBehind) until the tile comes near the screen.
  const camBehind = new Map(); // camera id → its newest state, not drawn yet
  const camCatchUp = (id) => {
    const tile = camTiles.get(id), c = camBehind.get(id);
    if (!tile || !c) return;
    camBehind.delete(id);
    tile.root.removeAttribute("aria-busy");
    tile.update(c);
  };
  const syncCam = (id) => {
    const tile = camTiles.get(id);
    if (!tile) return;
    if (camSeen.has(id) && !document.hidden) tile.play(); else tile.pause();
  };
  const camIO = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const id = e.target.dataset.camera;
      if (e.isIntersecting) camSeen.add(id); else camSeen.delete(id);
      if (e.isIntersecting) camCatchUp(id);
      syncCam(id);
    }
  }, { rootMargin: "300px" });
  // drawAges draws the age of every tile near the screen (the others are swept).
  let agesAt = -Infinity, agesLive = true;
  const drawAges = (page) => {
    agesAt = performance.now();
    agesLive = page.live;
    for (const tile of nearTiles) tile.renderAge(page);
  };
  const onVisibility = () => { for (const id of camTiles.keys()) syncCam(id); };
  document.addEventListener("visibilitychange", onVisibility);
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
        const byDevice = new Map();
        for (const t of tiles.values()) if (t.metric === m && t.spark) byDevice.set(t.id.slice(t.id.lastIndexOf("/") + 1), t);
        for (const r of result) {
          const t = byDevice.get(r.metric.device);
          if (!t) continue;
          const live = t.spark.xs.map((x, i) => [x, t.spark.ys[i]]).filter(([x]) => x > Number(r.values.at(-1)?.[0] || 0));
          t.spark.seed([...r.values, ...live]);
        }
      } catch (e) { if (e.name !== "AbortError") console.warn("sparkline history", m, e); }
    }
  }

  function drawDevices(all) {
    // Silent devices first. Judging 500 devices' freshness for every live batch is most of a batch's work on a
    // slow phone, so the order is computed again only when the set of devices changed or a tile saw its
    // device turn silent or live; otherwise the devices keep their last order.
    const mine = all.filter((d) => deviceSite(d) === site);
    let list;
    if (resort || mine.length !== sortedIds.length || mine.some((d) => !sortedAt.has(d.id))) {
      list = sortBySilence(mine, pageState());
      sortedIds = list.map((d) => d.id);
      sortedAt = new Map(sortedIds.map((id, i) => [id, i]));
      resort = false;
    } else {
      list = new Array(mine.length);
      for (const d of mine) list[sortedAt.get(d.id)] = d;
    }
    if (!list.length) {
      place([]);
      replace(sensors, el("p", { class: "muted empty" }, t("site.no_sensors")));
      if (!sensorsBuilt) { sensorsBuilt = true; if (lastCameras) buildCameras(); }
      return;
    }
    if (!tiles.size) sensors.replaceChildren();
    const seen = new Set();
    // A slice of new tiles per task: a block first (a screenful: the first paint is whole), then ~8 ms worth
    // and at least one tile. A fixed count per slice grew long on a slow phone (12 tiles took 50 ms at 4×
    // throttling).
    const least = tiles.size ? 1 : CHUNK;
    const until = performance.now() + (tiles.size ? 8 : 20);
    let made = 0, missing = 0;
    for (const d of list) {
      seen.add(d.id);
      let tile = tiles.get(d.id);
      if (!tile) {
        if (made >= least && performance.now() > until) { missing++; continue; }
        made++;
        tile = new SensorTile(d, thresholds, () => { resort = true; });
        tiles.set(d.id, tile);
      } else if (tile.latest() !== d) tile.offer(d); // the live layer keeps an unchanged device's object
    }
    for (const [id, tile] of tiles) {
      if (seen.has(id)) continue;
      tile.destroy(); tile.root.remove(); tiles.delete(id); nearTiles.delete(tile);
    }
    // Silent devices first; moving an existing node does not rebuild it. Only when the order changed, and
    // only the tiles out of place (tiles built in a later slice are added after the shown ones).
    const built = list.filter((d) => tiles.has(d.id)).map((d) => d.id);
    const order = built.join("\n");
    if (order !== shownOrder) {
      place(built);
      shownOrder = order;
    }
    if (missing) {
      if (!building) building = setTimeout(() => { building = 0; if (!gone && lastDevices) { drawDevices(lastDevices); if (lastAlerts) drawAlerts(lastAlerts); } }, 0);
      return;
    }
    if (!sensorsBuilt) {
      sensorsBuilt = true;
      if (lastCameras) buildCameras();
    }
    if (!seeded) {
      seeded = true;
      seed([...new Set([...tiles.values()].map((tile) => tile.metric).filter(Boolean))]);
    }
  }

  // buildCameras draws the cameras once more, so that the tiles still missing are built.
  function buildCameras() {
    if (gone || !lastCameras) return;
    const before = camTiles.size;
    drawCameras(lastCameras);
    if (lastAlerts && camTiles.size !== before) drawAlerts(lastAlerts); // new tiles need their alerts
  }

  function drawCameras(all) {
    const list = all.filter((c) => (c.site || "unassigned") === site);
    camSection.hidden = !list.length && !camTiles.size;
    const seen = new Set();
    // Camera tiles (each with its video element) are built after the sensor tiles above them, ~8 ms worth
    // per task: 50 of them built with the first sensor tiles made the first frame's style and layout alone
    // a long task on a phone.
    const until = performance.now() + 8;
    let missing = 0;
    for (const c of list) {
      seen.add(c.id);
      const tile = camTiles.get(c.id);
      if (tile) {
        if (camSeen.has(c.id)) { if (tile.cam !== c) tile.update(c); }
        else if (tile.cam !== c && camBehind.get(c.id) !== c) {
          if (!camBehind.has(c.id)) tile.root.setAttribute("aria-busy", "true");
          camBehind.set(c.id, c);
        }
      }
      else if (!sensorsBuilt || performance.now() > until) missing++;
      else {
        const nt = new CameraTile(c, ctx, { startPaused: true, lazyPoster: true }); // until it is near the screen
        camTiles.set(c.id, nt);
        cameras.append(nt.root);
        camIO.observe(nt.root);
      }
    }
    for (const [id, tile] of camTiles) if (!seen.has(id)) { camIO.unobserve(tile.root); tile.destroy(); tile.root.remove(); camTiles.delete(id); camSeen.delete(id); camBehind.delete(id); }
    if (missing && sensorsBuilt && !camBuilding) camBuilding = setTimeout(() => { camBuilding = 0; buildCameras(); }, 0);
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
    subscribe("devices", (all) => {
      lastDevices = all;
      if (body.hidden) { draw(); return; }
      const before = tiles.size;
      drawDevices(all);
      // New tiles need their alerts; the alerts themselves redraw when the alerts change.
      if (lastAlerts && tiles.size !== before) drawAlerts(lastAlerts);
      drawAges(pageState());
    }),
    subscribe("cameras", (all) => {
      lastCameras = all;
      if (body.hidden) { draw(); return; }
      const before = camTiles.size;
      drawCameras(all);
      if (lastAlerts && camTiles.size !== before) drawAlerts(lastAlerts); // new tiles need their alerts
    }),
    subscribe("alerts", (all) => { lastAlerts = all; if (!body.hidden) drawAlerts(all); else draw(); }),
    onThresholds((list) => { thresholds = list; for (const tile of tiles.values()) tile.setThresholds(list); }),
    onTick(() => {
      const page = pageState();
      // Devices that just turned silent are announced (the tiles are not a live region: they tick). Tiles away
      // from the screen are swept for their marks. While the stream brings devices every second the ages
      // were drawn with them (one frame a second, not two); the tick draws them when it does not, and at once
      // when the page turns stale or live again.
      if (page.live !== agesLive || performance.now() - agesAt > AGES_MS) drawAges(page);
      sweep(page);
      const news = [...tiles.values()].map((tile) => tile.silentNews()).filter(Boolean);
      if (news.length) announce(news.length > 3 ? t("site.many_silent", { n: news.length, site }) : `${news.join(", ")}.`);
    }),
  ];
  return () => {
    gone = true;
    abort.abort();
    unsubs.forEach((u) => u());
    camIO.disconnect();
    tileIO.disconnect();
    clearTimeout(building);
    clearTimeout(camBuilding);
    document.removeEventListener("visibilitychange", onVisibility);
    tiles.forEach((tile) => tile.destroy());
    camTiles.forEach((tile) => tile.destroy());
  };
}
