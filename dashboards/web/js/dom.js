// Small DOM and formatting helpers shared by every view. No framework: views build elements with el() and
// replace what changed.

import { serverNow } from "./clock.js";
import { t, tOr, fmtDateTime, zoneName } from "./i18n.js";
import { SENSOR_UNITS } from "./units.js";

// PROPS are keys el() sets as DOM properties rather than attributes.
const PROPS = new Set(["value", "checked", "disabled", "hidden", "selected", "textContent", "muted", "autoplay",
  "playsInline", "controls", "defaultMuted"]);

// el creates an element. Keys starting with "on" and holding a function become event listeners, keys in PROPS
// become properties, everything else an attribute (true → empty attribute). Children may be strings, nodes,
// arrays or null.
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
    else if (PROPS.has(k)) e[k] = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  append(e, children);
  return e;
}

function append(e, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(e, c);
    else e.append(c);
  }
}

// refill is replace() for content redrawn on every live update: when the new children would render exactly
// what is shown, the shown nodes stay, so a live region does not announce the same thing again and focus
// (on an Acknowledge button, say) is not lost once a second.
export function refill(node, ...children) {
  const next = node.cloneNode(false);
  append(next, children);
  if (next.innerHTML === node.innerHTML) return node;
  // What the user is typing (a comment beside Acknowledge on a phone) and where the focus is survive the redraw.
  const typed = [...node.querySelectorAll("input[id], textarea[id]")].filter((i) => i.value).map((i) => [i.id, i.value]);
  const focused = node.contains(document.activeElement) ? document.activeElement.id : "";
  node.replaceChildren(...next.childNodes);
  for (const [id, v] of typed) {
    const i = node.querySelector(`#${CSS.escape(id)}`);
    if (i && !i.value) i.value = v;
  }
  if (focused) node.querySelector(`#${CSS.escape(focused)}`)?.focus({ preventScroll: true });
  return node;
}

// clear empties a node and appends new children.
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

// UNITS are the display units of the contract's sensor metrics.
export const UNITS = SENSOR_UNITS;

// LABELS are the English names of the contract's sensor metrics (kept for older views; use metricLabel).
export const LABELS = {
  body_temperature: "Body temperature", temperature: "Temperature", heart_rate: "Heart rate", humidity: "Humidity",
  co2: "CO₂", pm25: "PM2.5", noise: "Noise", water_level: "Water level", battery: "Battery", rssi: "Signal",
};

// metricLabel is the readable name of a metric (the contract's sensor metrics are translated).
export function metricLabel(metric) { return tOr(`metric.${metric}`, metric); }

// fmtNum formats a reading with sensible precision.
export function fmtNum(v) {
  if (typeof v !== "number" || !isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1000 || Number.isInteger(v)) return v.toFixed(0);
  if (a >= 100) return v.toFixed(1).replace(/\.0$/, "");
  return v.toFixed(2).replace(/\.?0+$/, "") || "0";
}

// fmtValue formats a metric reading with its unit.
export function fmtValue(metric, v) {
  const u = UNITS[metric];
  return u ? `${fmtNum(v)} ${u}` : fmtNum(v);
}

// isZeroTime reports Go's zero time.Time, which the API sends for "never".
export function isZeroTime(t) { return !t || t.startsWith("0001-01-01"); }

// ageSeconds is how long ago an RFC 3339 time (of the server's clock) was.
export function ageSeconds(t) { return isZeroTime(t) ? Infinity : Math.max(0, (serverNow() - Date.parse(t)) / 1000); }

// fmtDuration renders seconds as "45 s", "3 min", "2 h 5 min", "3 d".
export function fmtDuration(s) {
  if (!isFinite(s)) return t("time.never");
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d`;
}

// ago renders an RFC 3339 time as "12 s ago".
export function ago(ts) { return isZeroTime(ts) ? t("time.never") : t("time.ago", { d: fmtDuration(ageSeconds(ts)) }); }

// timeEl renders an RFC 3339 time as a date (dd/MM/yyyy or yyyy-MM-dd by language) and 24-hour time in the
// browser's zone, named in the tooltip with the ISO value.
export function timeEl(ts) {
  if (isZeroTime(ts)) return el("span", { class: "muted" }, "—");
  const ms = Date.parse(ts);
  return el("time", { datetime: ts, title: `${zoneName(ms)} · ${new Date(ms).toISOString()}` }, fmtDateTime(ms));
}

// fmtBitrate renders bits per second.
export function fmtBitrate(b) {
  if (!b) return "0 bit/s";
  if (b >= 1e6) return `${(b / 1e6).toFixed(2)} Mbit/s`;
  return `${(b / 1e3).toFixed(0)} kbit/s`;
}

// badge is a coloured state pill with the state spelled out (never colour alone), in the UI's language.
export function badge(state, text) {
  return el("span", { class: `badge state-${String(state).replace(/[^a-z0-9_-]/gi, "")}` }, text || tOr(`state.${state}`, String(state)));
}

// deviceSite is the site label of a device.
export function deviceSite(d) { return (d.labels && d.labels.site) || "unassigned"; }

// deviceName is a device's short name (its device label).
export function deviceName(d) { return d.labels?.device || d.id; }

// alertSite is the site label of an alert.
export function alertSite(a) { return (a.labels && a.labels.site) || ""; }

// isAcked reports whether an alert has been acknowledged.
export function isAcked(a) { return !!a.acked_by; }

// announce reads a message to screen readers through the page's polite live region.
export function announce(msg) {
  const r = document.getElementById("announce");
  if (r) { r.textContent = ""; setTimeout(() => { r.textContent = msg; }, 30); }
}

// errorBox renders an error message for a failed load.
export function errorBox(err) {
  return el("p", { class: "error", role: "alert" }, err && err.message ? err.message : String(err));
}

// siteHref links to a site page.
export function siteHref(site) { return `#/site/${encodeURIComponent(site)}`; }

// cameraHref links to a camera page.
export function cameraHref(id) { return `#/camera/${encodeURIComponent(id)}`; }
