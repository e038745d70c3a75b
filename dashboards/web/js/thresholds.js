// Thresholds you can see: the limits the loaded alerting rules compare plain metric values against (from
// GET /api/rules "thresholds"), so tiles, rows and charts colour a reading the way the rules judge it, and the
// firing alerts that mark a device's tile or a camera's tile. Loaded once per page load and refreshed every
// minute (rules change on reload only); views subscribe with onThresholds.

import { get } from "./api.js";

const REFRESH = 60000;
let list = null; // null until loaded; [] when the server has none (or refuses)
let timer = 0;
let loading = null;
const subs = new Set();

// SEVERITY_RANK orders severities: critical above warning above anything else.
const SEVERITY_RANK = { critical: 2, warning: 1 };

async function load() {
  if (loading) return loading;
  loading = (async () => {
    try {
      const data = await get("/api/rules");
      list = Array.isArray(data?.thresholds) ? data.thresholds : [];
    } catch {
      list = list || [];
    } finally {
      loading = null;
    }
    for (const fn of subs) fn(list);
  })();
  return loading;
}

// onThresholds calls fn(list) once the thresholds are known and after every refresh.
export function onThresholds(fn) {
  subs.add(fn);
  if (list) fn(list);
  else load();
  if (!timer) timer = setInterval(() => { if (!document.hidden) load(); }, REFRESH);
  return () => {
    subs.delete(fn);
    if (!subs.size) { clearInterval(timer); timer = 0; }
  };
}

// matches reports whether a series' labels satisfy a threshold's matchers (PromQL semantics: regexes are
// anchored; a missing label is the empty string).
export function matches(th, labels) {
  for (const m of th.matchers || []) {
    const v = labels?.[m.name] ?? "";
    let ok;
    switch (m.op) {
      case "=": ok = v === m.value; break;
      case "!=": ok = v !== m.value; break;
      case "=~": case "!~": {
        let re;
        try { re = new RegExp(`^(?:${m.value})$`); } catch { return false; }
        ok = re.test(v) === (m.op === "=~");
        break;
      }
      default: return false;
    }
    if (!ok) return false;
  }
  return true;
}

// crosses reports whether value is past the threshold (the rule's condition holds).
export function crosses(th, value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return false;
  switch (th.op) {
    case ">": return value > th.value;
    case ">=": return value >= th.value;
    case "<": return value < th.value;
    case "<=": return value <= th.value;
  }
  return false;
}

// watching are the thresholds on metric that apply to a series with these labels.
export function watching(thresholds, metric, labels) {
  return (thresholds || []).filter((th) => th.metric === metric && matches(th, labels));
}

// judge says how the rules see a value: level "critical", "warning" or "" (within every limit), the
// threshold crossed (the most severe), and the thresholds that watch the series at all.
export function judge(thresholds, metric, labels, value) {
  const watch = watching(thresholds, metric, labels);
  let worst = null;
  for (const th of watch) {
    if (!crosses(th, value)) continue;
    if (!worst || (SEVERITY_RANK[th.severity] || 0) > (SEVERITY_RANK[worst.severity] || 0)) worst = th;
  }
  return { level: worst ? (worst.severity === "critical" ? "critical" : "warning") : "", th: worst, watch };
}

// firingFor are the firing (or acknowledged) alerts about a device (labels device and site) or a camera.
export function firingFor(alerts, { device, site, camera }) {
  return (alerts || []).filter((a) => a.state === "firing" && a.labels &&
    (camera ? a.labels.camera === camera : a.labels.device === device && (!a.labels.site || !site || a.labels.site === site)));
}

// worstSeverity of a list of alerts: "critical", "warning" or "".
export function worstSeverity(alerts) {
  let best = "";
  for (const a of alerts) {
    const s = a.labels?.severity === "critical" ? "critical" : "warning";
    if (s === "critical") return s;
    best = s;
  }
  return best;
}
