// Explore: a PromQL expression charted over a chosen range.

import { el, replace, errorBox } from "../dom.js";
import { queryRange } from "../api.js";
import { timeChart } from "../chart.js";

const RANGES = [["15 min", 900], ["1 h", 3600], ["6 h", 21600], ["24 h", 86400], ["7 d", 604800]];

// render draws the query form and chart; the expression and range live in the URL so a chart can be shared.
export function render(root, params) {
  const q = params.query;
  const input = el("textarea", { id: "promql", name: "q", rows: 2, spellcheck: "false", autocomplete: "off", value: q.get("q") || "body_temperature" });
  const range = el("select", { id: "range", name: "range" }, RANGES.map(([l, s]) => el("option", { value: String(s), selected: String(s) === (q.get("range") || "3600") }, l)));
  const out = el("div", { class: "chart-box", "aria-live": "polite" });
  const form = el("form", { class: "explore" },
    el("label", { for: "promql" }, "PromQL expression"), input,
    el("div", { class: "toolbar" }, el("label", { for: "range" }, "Range "), range, el("button", { type: "submit" }, "Run")));
  replace(root, el("h1", {}, "Explore"), form, out);
  let destroy = () => {};
  async function run() {
    destroy();
    destroy = () => {};
    replace(out, el("p", { class: "muted" }, "Running…"));
    try {
      const { result, start, end } = await queryRange(input.value, Number(range.value), 400);
      replace(out, el("p", { class: "muted" }, `${result.length} series`));
      const box = el("div", { class: "plot" });
      out.append(box);
      destroy = timeChart(box, result, { height: 320, start, end });
    } catch (e) { replace(out, errorBox(e)); }
  }
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const hash = `#/explore?${new URLSearchParams({ q: input.value, range: range.value })}`;
    if (location.hash !== hash) history.replaceState(null, "", hash);
    run();
  });
  input.addEventListener("keydown", (ev) => { if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) form.requestSubmit(); });
  run();
  return () => destroy();
}
