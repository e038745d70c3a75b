// Units from metric names: the contract's sensor metrics by name, everything else by the Prometheus naming
// convention's unit suffix (_bps, _seconds, _ratio, _bytes, _celsius, _volts, _dbm, _ppm, _percent). fmtUnit
// renders a value in its unit with an SI prefix where that reads better (250000 bit/s → 250 kbit/s).

// SENSOR_UNITS are the display units of the contract's sensor metrics.
export const SENSOR_UNITS = {
  body_temperature: "°C", temperature: "°C", heart_rate: "bpm", humidity: "%", co2: "ppm", pm25: "µg/m³",
  noise: "dB", water_level: "m", battery: "V", rssi: "dBm",
};

// SUFFIXES map a metric-name suffix to a unit (longest first where they overlap).
const SUFFIXES = [
  ["_bits_per_second", "bit/s"], ["_bps", "bit/s"], ["_bytes_per_second", "B/s"], ["_seconds", "s"],
  ["_ratio", "ratio"], ["_percent", "%"], ["_bytes", "B"], ["_celsius", "°C"], ["_volts", "V"], ["_dbm", "dBm"],
  ["_ppm", "ppm"], ["_fps", "fps"], ["_meters", "m"], ["_hertz", "Hz"],
];

// unitOf is the unit of a metric name ("" when it has none we know).
export function unitOf(metric) {
  if (!metric) return "";
  if (SENSOR_UNITS[metric]) return SENSOR_UNITS[metric];
  const m = metric.replace(/_total$/, "");
  for (const [suffix, unit] of SUFFIXES) if (m.endsWith(suffix)) return unit;
  if (m === "camera_fps") return "fps";
  return "";
}

// unitOfExpr guesses the unit of a PromQL expression's result: the unit of the metric it names, when the
// expression keeps the value's unit (a selector, or an aggregation or *_over_time of one); "" otherwise.
export function unitOfExpr(expr) {
  const s = String(expr || "").trim();
  if (/\b(rate|irate|increase|deriv|count|count_over_time|changes|resets|delta|idelta|histogram_quantile)\s*\(/.test(s)) return "";
  if (/[*/+-]\s*[\d.(a-z]/i.test(s.replace(/\[[^\]]*\]/g, "").replace(/[{][^}]*[}]/g, ""))) return "";
  const names = [...s.replace(/"[^"]*"/g, "").matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=\{|\[|\)|$|\s*[<>=!])/g)].map((m) => m[1])
    .filter((n) => !/^(sum|avg|min|max|by|without|on|ignoring|group_left|group_right|bool|and|or|unless|offset|[a-z]+_over_time|abs|round|ceil|floor|clamp|clamp_min|clamp_max|last_over_time)$/.test(n));
  const units = [...new Set(names.map(unitOf).filter(Boolean))];
  return units.length === 1 ? units[0] : "";
}

const PREFIXES = [[1e9, "G"], [1e6, "M"], [1e3, "k"]];

function num(v, digits = 3) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
  return String(+v.toPrecision(digits));
}

// fmtUnit renders v in unit: SI prefixes for bit/s, B and Hz, percentages for ratios, "s" as a duration.
export function fmtUnit(v, unit, digits = 3) {
  if (v == null || !Number.isFinite(v)) return "—";
  switch (unit) {
    case "bit/s": case "B": case "B/s": case "Hz": {
      for (const [f, p] of PREFIXES) if (Math.abs(v) >= f) return `${num(v / f, digits)} ${p}${unit}`;
      return `${num(v, digits)} ${unit}`;
    }
    case "ratio": return `${num(v * 100, digits)} %`;
    case "s":
      if (Math.abs(v) >= 3600) return `${num(v / 3600, digits)} h`;
      if (Math.abs(v) >= 60) return `${num(v / 60, digits)} min`;
      if (Math.abs(v) < 1 && v !== 0) return `${num(v * 1000, digits)} ms`;
      return `${num(v, digits)} s`;
    case "": return num(v, digits);
    default: return `${num(v, digits)} ${unit}`;
  }
}
