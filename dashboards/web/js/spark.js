// Sparklines for sensor tiles: one line on a plain canvas, with the alerting rules' thresholds watching it as
// dashed lines in their severity's colour. The site page shows hundreds of them, so they are cheap: no chart
// library (uPlot stays off the site page), only sparklines on screen draw,
// and one requestAnimationFrame per frame that draws every sparkline that changed since the last, however
// many points arrived. Points are kept while a sparkline is off screen (its owner says so: setVisible) and drawn
// when it comes into view; only visible sparklines are watched for their width.

// LEVEL_COLOURS as in chart.js: critical red, warning amber.
const LEVEL_COLOURS = { critical: "#dc2626", warning: "#d97706" };
const LINE = "#2563eb";

const dirty = new Set();
let frame = 0;

// PAINT_MS is how long one frame paints sparklines; the rest wait for the next frame. A canvas's first paint
// (its context made, its backing store sized) is the costly one: a phone's first screenful of sparklines,
// seeded with their history at once, made one long frame.
const PAINT_MS = 6;

function flush() {
  frame = 0;
  const until = performance.now() + PAINT_MS;
  // Widths come from the ResizeObserver: reading them here would force a layout of the whole page.
  for (const s of dirty) {
    dirty.delete(s);
    s.paint(s.width);
    if (performance.now() > until) break;
  }
  if (dirty.size) frame = requestAnimationFrame(flush);
}

function schedule(s) {
  dirty.add(s);
  if (!frame) frame = requestAnimationFrame(flush);
}

// Each sparkline's width in CSS pixels, as laid out (the ResizeObserver reports it after layout, for free).
const ro = typeof ResizeObserver === "undefined" ? null : new ResizeObserver((entries) => {
  for (const e of entries) {
    const s = e.target.__spark;
    if (!s) continue;
    const w = Math.floor(e.contentRect.width);
    if (w > 0 && w !== s.width) { s.width = w; s.draw(); }
  }
});

// sparkRange keeps the points and the thresholds in view with a margin (chart.js's yRange).
export function sparkRange(ys, thresholds) {
  let lo = null, hi = null;
  for (const v of ys) if (Number.isFinite(v)) { lo = lo === null ? v : Math.min(lo, v); hi = hi === null ? v : Math.max(hi, v); }
  for (const th of thresholds) { lo = Math.min(lo ?? th.value, th.value); hi = Math.max(hi ?? th.value, th.value); }
  if (lo === null || hi === null) return [0, 1];
  const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.05 || 1;
  return [lo - pad, hi + pad];
}

// Sparkline draws into container (which reserves its height in CSS, so nothing moves when it draws).
export class Sparkline {
  constructor(container, { height = 36, maxPoints = 240 } = {}) {
    this.xs = [];
    this.ys = [];
    this.maxPoints = maxPoints;
    this.height = height;
    this.container = container;
    this.thresholds = [];
    this.canvas = document.createElement("canvas");
    this.canvas.className = "spark";
    this.canvas.height = height; // CSS sizes it: .spark-box canvas.spark
    container.append(this.canvas);
    container.__spark = this;
    this.visible = false; // until setVisible
    this.width = 0; // until the ResizeObserver says
    this.stale = true;
  }

  // setVisible says whether the sparkline is on (or near) the screen: only then does it draw.
  setVisible(on) {
    if (on === this.visible || !this.canvas) return;
    this.visible = on;
    if (ro) { if (on) ro.observe(this.container); else ro.unobserve(this.container); }
    if (on && this.stale) this.draw();
  }

  // setThresholds sets the limits drawn over the line.
  setThresholds(list) {
    const key = JSON.stringify(list.map((th) => [th.alert, th.op, th.value, th.severity]));
    if (key === this.thresholdKey) return;
    this.thresholdKey = key;
    this.thresholds = list;
    // The limits drawn, in words, for assistive technology and the tests (the canvas itself says nothing).
    this.container.dataset.thresholds = list.map((th) => `${th.alert} ${th.op} ${th.value}`).join("; ");
    this.draw();
  }

  // seed replaces the points with a history [[t, v], ...] (t in seconds).
  seed(values) {
    this.xs = values.map((v) => Number(v[0]));
    this.ys = values.map((v) => Number(v[1]));
    this.draw();
  }

  // push appends a point unless it is not newer than the last one.
  push(t, v) {
    if (this.xs.length && t <= this.xs[this.xs.length - 1]) return;
    this.xs.push(t);
    this.ys.push(Number(v));
    if (this.xs.length > this.maxPoints) { this.xs.shift(); this.ys.shift(); }
    this.draw();
  }

  // draw marks the sparkline for the next frame; off screen it only remembers that it is behind.
  draw() {
    this.stale = true;
    if (this.visible && (this.width || !ro)) schedule(this);
  }

  // paint draws the points at width css pixels.
  paint(width) {
    if (!this.canvas) return;
    this.stale = false;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(40, Math.floor(width || this.container.clientWidth || 200)), h = this.height;
    if (this.canvas.width !== Math.round(w * dpr) || this.canvas.height !== Math.round(h * dpr)) {
      this.canvas.width = Math.round(w * dpr);
      this.canvas.height = Math.round(h * dpr);
    }
    const c = this.canvas.getContext("2d");
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    c.clearRect(0, 0, w, h);
    const n = this.xs.length;
    const [lo, hi] = sparkRange(this.ys, this.thresholds);
    const y = (v) => h - 2 - ((v - lo) / (hi - lo || 1)) * (h - 4);
    for (const th of this.thresholds) {
      c.strokeStyle = LEVEL_COLOURS[th.severity] || LEVEL_COLOURS.warning;
      c.lineWidth = 1.5;
      c.setLineDash([6, 4]);
      c.beginPath();
      c.moveTo(0, y(th.value));
      c.lineTo(w, y(th.value));
      c.stroke();
    }
    if (n < 2) return;
    const x0 = this.xs[0], span = this.xs[n - 1] - x0 || 1;
    c.setLineDash([]);
    c.strokeStyle = LINE;
    c.lineWidth = 1.5;
    c.beginPath();
    let pen = false;
    for (let i = 0; i < n; i++) {
      const v = this.ys[i];
      if (!Number.isFinite(v)) { pen = false; continue; }
      const px = ((this.xs[i] - x0) / span) * (w - 2) + 1;
      if (pen) c.lineTo(px, y(v)); else c.moveTo(px, y(v));
      pen = true;
    }
    c.stroke();
  }

  // destroy frees the canvas.
  destroy() {
    if (ro) ro.unobserve(this.container);
    dirty.delete(this);
    delete this.container.__spark;
    this.canvas.remove();
    this.canvas = null;
  }
}
