// Charts on uPlot (vendored, see /ui/vendor/README.md): time-series charts from Prometheus range queries and
// small sparklines for sensor tiles. Charts people can read: values in their unit (from the metric name),
// series named after what they measure ("wearable-001 · q-hotel-1"), times in the browser's zone in the
// language's date order, and the alerting rules' thresholds drawn as dashed lines in their severity's colour.

import uPlot from "../vendor/uPlot.esm.js";
import { el } from "./dom.js";
import { fmtUnit } from "./units.js";
import { t, fmtDate, fmtTime, fmtDateTime, zoneName } from "./i18n.js";

const PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];
// LEVEL_COLOURS draw threshold lines (critical red, warning amber); the label says the severity in words.
const LEVEL_COLOURS = { critical: "#dc2626", warning: "#d97706" };

// seriesName renders a Prometheus label set compactly, leaving out labels every series shares.
export function seriesName(metric, common) {
  const parts = Object.entries(metric || {}).filter(([k, v]) => k !== "__name__" && common[k] !== v)
    .map(([k, v]) => `${k}="${v}"`);
  const name = metric.__name__ && !common.__name__ ? metric.__name__ : "";
  return name + (parts.length ? `{${parts.join(", ")}}` : "") || (metric.__name__ || "value");
}

// IDENTITY are the labels that name what a series measures, in the order a name shows them.
const IDENTITY = ["device", "camera", "site"];
const NOISE = new Set(["__name__", "district", "job", "instance", "edge"]);

// humanName names a series after its device or camera and site ("wearable-001 · q-hotel-1"), adding only the
// other labels that tell it from the rest (zone, kind); a label set without those falls back to seriesName.
export function humanName(metric, common) {
  const m = metric || {};
  if (!IDENTITY.slice(0, 2).some((k) => m[k])) return seriesName(m, common);
  const bits = IDENTITY.filter((k) => m[k]).map((k) => m[k]);
  const extra = Object.entries(m).filter(([k, v]) => !IDENTITY.includes(k) && !NOISE.has(k) && common[k] !== v).map(([k, v]) => `${k}=${v}`);
  if (m.__name__ && !common.__name__) extra.unshift(m.__name__);
  return [...bits, ...extra].join(" · ");
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

// timeAxis formats x ticks: times within a day, dates and times across days, in the language's order.
function timeAxis(u, splits) {
  const span = (u.scales.x.max - u.scales.x.min) || 0;
  return splits.map((s) => (span > 86400 ? `${fmtDate(s * 1000)}\n${fmtTime(s * 1000, true)}` : fmtTime(s * 1000, span > 3 * 3600)));
}

// thresholdPlugin draws each threshold as a dashed horizontal line with its rule, limit and severity, and
// keeps the limit inside the y range so the distance to it shows.
function thresholdPlugin(thresholds, unit) {
  return {
    hooks: {
      draw: (u) => {
        const ctx = u.ctx;
        ctx.save();
        for (const th of thresholds) {
          const y = u.valToPos(th.value, "y", true);
          if (!Number.isFinite(y) || y < u.bbox.top - 1 || y > u.bbox.top + u.bbox.height + 1) continue;
          ctx.strokeStyle = LEVEL_COLOURS[th.severity] || LEVEL_COLOURS.warning;
          ctx.fillStyle = ctx.strokeStyle;
          ctx.lineWidth = 1.5 * uPlot.pxRatio;
          ctx.setLineDash([6 * uPlot.pxRatio, 4 * uPlot.pxRatio]);
          ctx.beginPath();
          ctx.moveTo(u.bbox.left, y);
          ctx.lineTo(u.bbox.left + u.bbox.width, y);
          ctx.stroke();
          if (u.bbox.height > 60 * uPlot.pxRatio) {
            ctx.font = `${11 * uPlot.pxRatio}px system-ui, sans-serif`;
            ctx.textAlign = "right";
            ctx.fillText(`${th.alert} ${th.op} ${fmtUnit(th.value, unit)} (${t(`severity.${th.severity === "critical" ? "critical" : "warning"}`)})`,
              u.bbox.left + u.bbox.width - 4, y - 4 * uPlot.pxRatio);
          }
        }
        ctx.restore();
      },
    },
  };
}

// yRange keeps the data and the thresholds in view with a margin.
function yRange(thresholds) {
  return (u, min, max) => {
    let lo = min, hi = max;
    for (const th of thresholds) { lo = Math.min(lo ?? th.value, th.value); hi = Math.max(hi ?? th.value, th.value); }
    if (lo == null || hi == null) return [0, 1];
    const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.05 || 1;
    return [lo - pad, hi + pad];
  };
}

// timeChart draws a range-query result into container and keeps it sized to it. It returns a destroy function.
// start and end (unix seconds) fix the x range to the queried range, so sparse data is not stretched. unit
// formats the y axis and legend; thresholds (from thresholds.js) are drawn as limit lines.
export function timeChart(container, result, { height = 220, title = "", unit = "", start, end, thresholds = [] } = {}) {
  container.replaceChildren();
  if (!result.length) {
    container.append(el("p", { class: "muted" }, t("chart.no_data")));
    return () => {};
  }
  const common = commonLabels(result);
  const opts = {
    title, width: widthOf(container), height,
    series: [{ value: (u, v) => (v == null ? "—" : fmtDateTime(v * 1000)) }, ...result.map((r, i) => ({
      label: humanName(r.metric, common), stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: false,
      value: (u, v) => (v == null ? "—" : fmtUnit(v, unit, 4)),
    }))],
    axes: [{ values: timeAxis, space: 70 }, { size: 72, values: (u, vals) => vals.map((v) => fmtUnit(v, unit)) }],
    scales: { x: { time: true, ...(start && end ? { range: () => [start, end] } : {}) }, y: { range: yRange(thresholds) } },
    plugins: thresholds.length ? [thresholdPlugin(thresholds, unit)] : [],
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
  };
  const plot = new uPlot(opts, align(result), container);
  container.append(el("p", { class: "muted small zone" }, t("chart.zone", { zone: zoneName() })));
  // The limits in words too: the dashed lines are pixels on a canvas, which a screen reader does not see and
  // which say nothing when the limit lies outside the drawn range.
  if (thresholds.length) {
    const words = thresholds.map((th) => `${th.alert} ${th.op} ${fmtUnit(th.value, unit)} (${t(`severity.${th.severity === "critical" ? "critical" : "warning"}`)})`);
    container.append(el("p", { class: "muted small limits", "data-thresholds": words.join("; ") }, t("chart.limits", { limits: words.join("; ") })));
  }
  const ro = new ResizeObserver(() => plot.setSize({ width: widthOf(container), height }));
  ro.observe(container);
  return () => { ro.disconnect(); plot.destroy(); };
}
