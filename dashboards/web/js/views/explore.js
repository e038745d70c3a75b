// Explore: a PromQL expression charted over a chosen range — the last 15 min to 7 days, or a custom span —
// refreshed automatically if asked. The values carry the unit of the metric they come from, the rules'
// thresholds on that metric are drawn, and the times are in the browser's zone, named under the chart.

import { el, replace, errorBox } from "../dom.js";
import { get, APIError } from "../api.js";
import { timeChart } from "../chart.js";
import { t } from "../i18n.js";
import { unitOf, unitOfExpr } from "../units.js";
import { onThresholds, matches } from "../thresholds.js";

// RANGES are the preset ranges (seconds); "custom" takes a start and an end.
export const RANGES = [["15m", 900], ["1h", 3600], ["6h", 21600], ["24h", 86400], ["7d", 604800]];
// REFRESH are the auto-refresh periods (seconds; 0 is off).
const REFRESH = [0, 10, 30, 60, 300];

const p2 = (n) => String(n).padStart(2, "0");
// localInput renders ms as a datetime-local value (the browser's zone).
function localInput(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}T${p2(d.getHours())}:${p2(d.getMinutes())}`;
}

// rangeQuery runs a range query from start to end (unix seconds).
async function rangeQuery(expr, start, end, points, signal) {
  const step = Math.max(1, Math.ceil((end - start) / points));
  const qs = new URLSearchParams({ query: expr, start: start.toFixed(3), end: end.toFixed(3), step: `${step}s` });
  const data = await get(`/api/v1/query_range?${qs}`, { signal });
  if (!data || data.status !== "success") throw new APIError(0, (data && data.error) || "query failed");
  return data.data.result || [];
}

// render draws the query form and chart; the expression, range and refresh live in the URL so a chart can be
// shared.
export function render(root, params) {
  const q = params.query;
  const input = el("textarea", { id: "promql", name: "q", rows: 2, spellcheck: "false", autocomplete: "off", value: q.get("q") || "body_temperature" });
  const rangeVal = q.get("range") || "3600";
  const range = el("select", { id: "range", name: "range" },
    RANGES.map(([l, s]) => el("option", { value: String(s), selected: String(s) === rangeVal }, t(`range.${l}`))),
    el("option", { value: "custom", selected: rangeVal === "custom" }, t("range.custom")));
  const now = Date.now();
  const from = el("input", { id: "range-from", type: "datetime-local", value: q.get("from") ? localInput(Number(q.get("from")) * 1000) : localInput(now - 3600e3) });
  const to = el("input", { id: "range-to", type: "datetime-local", value: q.get("to") ? localInput(Number(q.get("to")) * 1000) : localInput(now) });
  const custom = el("span", { class: "custom-range", hidden: rangeVal !== "custom" },
    el("label", { for: "range-from" }, t("range.from")), from, el("label", { for: "range-to" }, t("range.to")), to);
  const refresh = el("select", { id: "refresh", name: "refresh" }, REFRESH.map((s) =>
    el("option", { value: String(s), selected: String(s) === (q.get("refresh") || "0") }, s ? t("refresh.every", { s: s >= 60 ? `${s / 60} min` : `${s} s` }) : t("refresh.off"))));
  const status = el("p", { class: "muted small", "aria-live": "polite" });
  const out = el("div", { class: "chart-box" });
  const form = el("form", { class: "explore" },
    el("label", { for: "promql" }, t("explore.expression")), input,
    el("div", { class: "toolbar" }, el("label", { for: "range" }, t("range.label")), range, custom,
      el("label", { for: "refresh" }, t("refresh.label")), refresh, el("button", { type: "submit" }, t("explore.run"))));
  replace(root, el("h1", {}, t("nav.explore")), form, status, out);
  let destroy = () => {};
  let timer = 0;
  let abort = null;
  let thresholds = [];

  function span() {
    if (range.value !== "custom") {
      const end = Date.now() / 1000;
      return [end - Number(range.value), end];
    }
    const s = Date.parse(from.value) / 1000, e = Date.parse(to.value) / 1000;
    if (!Number.isFinite(s) || !Number.isFinite(e) || e <= s) throw new Error(t("range.invalid"));
    return [s, e];
  }

  async function run() {
    if (abort) abort.abort();
    abort = new AbortController();
    const signal = abort.signal;
    try {
      const [start, end] = span();
      const result = await rangeQuery(input.value, start, end, 400, signal);
      const names = [...new Set(result.map((r) => r.metric.__name__).filter(Boolean))];
      const unit = names.length === 1 ? unitOf(names[0]) : unitOfExpr(input.value);
      // The thresholds of the charted metric, for the series it has (a selector's matchers).
      const metric = names.length === 1 ? names[0] : (input.value.trim().match(/^([a-zA-Z_:][\w:]*)\s*(\{[^}]*\})?$/) || [])[1];
      const lines = thresholds.filter((th) => th.metric === metric && result.some((r) => matches(th, r.metric)));
      if (signal.aborted) return;
      destroy();
      const box = el("div", { class: "plot" });
      replace(out, box);
      destroy = timeChart(box, result, { height: 320, start, end, unit, thresholds: lines });
      status.textContent = t("explore.series", { n: result.length });
    } catch (e) {
      if (e.name === "AbortError") return;
      destroy();
      destroy = () => {};
      replace(out, errorBox(e));
      status.textContent = "";
    }
  }

  function schedule() {
    clearInterval(timer);
    const s = Number(refresh.value);
    if (s > 0 && range.value !== "custom") timer = setInterval(() => { if (!document.hidden) run(); }, s * 1000);
  }

  function remember() {
    const qs = { q: input.value, range: range.value };
    if (range.value === "custom") {
      try { const [s, e] = span(); qs.from = String(Math.floor(s)); qs.to = String(Math.floor(e)); } catch { /* shown by run */ }
    }
    if (refresh.value !== "0") qs.refresh = refresh.value;
    const hash = `#/explore?${new URLSearchParams(qs)}`;
    if (location.hash !== hash) history.replaceState(null, "", hash);
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    remember();
    schedule();
    run();
  });
  range.addEventListener("change", () => { custom.hidden = range.value !== "custom"; if (range.value !== "custom") form.requestSubmit(); else schedule(); });
  refresh.addEventListener("change", () => { remember(); schedule(); });
  input.addEventListener("keydown", (ev) => { if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) form.requestSubmit(); });
  const offThresholds = onThresholds((list) => { const first = !thresholds.length && list.length; thresholds = list; if (first) run(); });
  run();
  schedule();
  return () => { clearInterval(timer); if (abort) abort.abort(); offThresholds(); destroy(); };
}
