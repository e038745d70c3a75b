// Charts on uPlot (vendored, see /ui/vendor/README.md): time-series charts from Prometheus range queries and
// small sparklines for sensor tiles.

import uPlot from "../vendor/uPlot.esm.js";
import { el } from "./dom.js";

const PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];

// seriesName renders a Prometheus label set compactly, leaving out labels every series shares.
export function seriesName(metric, common) {
  const parts = Object.entries(metric || {}).filter(([k, v]) => k !== "__name__" && common[k] !== v)
    .map(([k, v]) => `${k}="${v}"`);
  const name = metric.__name__ && !common.__name__ ? metric.__name__ : "";
  return name + (parts.length ? `{${parts.join(", ")}}` : "") || (metric.__name__ || "value");
}

function commonLabels(result) {
  if (!result.length) return {};
  const common = { ...result[0].metric };
  if (result.length === 1) {
    delete common.__name__; // one series: its metric name alone says what it is
    return common;
  }
  for (const r of result.slice(1)) for (const k of Object.keys(common)) if (r.metric[k] !== common[k]) delete common[k];
  return common;
}

// align turns a Prometheus matrix into uPlot's columnar data: shared x (seconds) and one y array per series
// with null where a series has no point.
export function align(result) {
  const xs = [...new Set(result.flatMap((r) => r.values.map((v) => v[0])))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = result.map((r) => {
    const y = new Array(xs.length).fill(null);
    for (const [t, v] of r.values) y[index.get(t)] = Number(v);
    return y;
  });
  return [xs, ...ys];
}

function widthOf(node) { return Math.max(200, Math.floor(node.getBoundingClientRect().width || node.clientWidth || 600)); }

// timeChart draws a range-query result into container and keeps it sized to it. It returns a destroy function.
// start and end (unix seconds) fix the x range to the queried range, so sparse data is not stretched.
export function timeChart(container, result, { height = 220, title = "", unit = "", start, end } = {}) {
  container.replaceChildren();
  if (!result.length) {
    container.append(el("p", { class: "muted" }, "No data in this range."));
    return () => {};
  }
  const common = commonLabels(result);
  const opts = {
    title, width: widthOf(container), height,
    series: [{}, ...result.map((r, i) => ({
      label: seriesName(r.metric, common), stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: false,
      value: (u, v) => (v == null ? "—" : `${+v.toPrecision(4)}${unit ? " " + unit : ""}`),
    }))],
    axes: [{}, { size: 60, values: (u, vals) => vals.map((v) => +v.toPrecision(3)) }],
    scales: start && end ? { x: { time: true, range: () => [start, end] } } : {},
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
  };
  const plot = new uPlot(opts, align(result), container);
  const ro = new ResizeObserver(() => plot.setSize({ width: widthOf(container), height }));
  ro.observe(container);
  return () => { ro.disconnect(); plot.destroy(); };
}

// Sparkline is a tiny axis-less chart of one series that accepts live points.
export class Sparkline {
  constructor(container, { height = 36, maxPoints = 240, color = PALETTE[0] } = {}) {
    this.xs = [];
    this.ys = [];
    this.maxPoints = maxPoints;
    this.height = height;
    this.container = container;
    this.plot = new uPlot({
      width: Math.max(80, container.clientWidth || 200), height, class: "spark",
      legend: { show: false }, cursor: { show: false }, select: { show: false },
      scales: { x: { time: false } },
      axes: [{ show: false }, { show: false }],
      series: [{}, { stroke: color, width: 1.5, points: { show: false } }],
    }, [[], []], container);
    // Tiles are built before they are in the page and reflow on phones: follow the container's width.
    this.ro = new ResizeObserver(() => {
      const w = Math.floor(container.clientWidth);
      if (w > 0 && w !== this.plot.width) this.plot.setSize({ width: w, height: this.height });
    });
    this.ro.observe(container);
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
    this.ys.push(v);
    if (this.xs.length > this.maxPoints) { this.xs.shift(); this.ys.shift(); }
    this.draw();
  }

  draw() { this.plot.setData([this.xs, this.ys]); }

  // destroy frees the chart.
  destroy() { this.ro.disconnect(); this.plot.destroy(); }
}
