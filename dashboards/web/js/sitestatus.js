// What is wrong at a site, in words, and the order of the Overview's site cards. Pure functions over the
// live lists (no DOM), so the e2e rule table can check them in the browser.

import { t, tOr } from "./i18n.js";
import { firingFor } from "./thresholds.js";

// REASONS name firing alerts by rule in words: one text for one, another for more (English plurals; the
// Vietnamese texts are the same for both). A rule not listed is named by its rule name.
const REASONS = {
  Fever: ["reason.fever_one", "reason.fever_other"],
  CameraTampered: ["reason.tamper_one", "reason.tamper_other"],
  RoomCO2High: ["reason.co2_one", "reason.co2_other"],
  WaterLevelRisingFast: ["reason.water_one", "reason.water_other"],
  WearableRemoved: ["reason.wearable_removed_one", "reason.wearable_removed_other"],
  WearableSilent: ["reason.wearable_silent_one", "reason.wearable_silent_other"],
  PossibleLeave: ["reason.possible_leave_one", "reason.possible_leave_other"],
  NightDoorMotion: ["reason.night_door_one", "reason.night_door_other"],
  WardRoundMissed: ["reason.round_missed_one", "reason.round_missed_other"],
};
const CAMERA_DOWN = ["reason.camera_down_one", "reason.camera_down_other"];
const SILENT = ["reason.silent_one", "reason.silent_other"];
// CAMERA_STATE_RULES are said by the camera's state ("1 camera down"), not once more by their alert.
const CAMERA_STATE_RULES = new Set(["CameraOffline", "CameraDown", "CameraStalled"]);

const SEVERITY_RANK = { critical: 0, warning: 1 };

// plural picks the text of a pair for n.
function plural([one, other], n, vars = {}) { return t(n === 1 ? one : other, { n, ...vars }); }

// siteReasons says what is wrong at a site: summary s (overview.js siteSummaries) carries byRule, a map of
// firing rule → { n, severity }, and the counts of cameras down and silent devices. Critical reasons first,
// then warnings; within a severity, alerts by rule name, then cameras down, then silent devices, so the text
// does not shuffle as counts change. A camera alert (CameraOffline) is said by "camera down", with its
// severity.
export function siteReasons(s) {
  const rank = (sev) => SEVERITY_RANK[sev] ?? 2;
  let camAlerts = 0, camSev = "warning";
  const out = [];
  for (const [rule, r] of Object.entries(s.byRule || {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (CAMERA_STATE_RULES.has(rule)) {
      camAlerts += r.n;
      if (r.severity === "critical") camSev = "critical";
      continue;
    }
    out.push({ severity: r.severity || "warning", text: REASONS[rule] ? plural(REASONS[rule], r.n) : t("reason.other", { n: r.n, rule }) });
  }
  const down = Math.max(s.camerasDown || 0, camAlerts);
  if (down) out.push({ severity: camAlerts ? camSev : "warning", text: plural(CAMERA_DOWN, down) });
  if (s.silent) out.push({ severity: "warning", text: plural(SILENT, s.silent) });
  // A stable sort: the order above holds within a severity.
  return out.map((r, i) => ({ r, i })).sort((a, b) => (rank(a.r.severity) - rank(b.r.severity)) || (a.i - b.i)).map((x) => x.r);
}

const STATUS_RANK = { critical: 0, warning: 1, ok: 2 };

// orderSites sorts summaries by severity, then name, stably: a site that gets better keeps its place until
// it has stayed better for holdMs, so a camera flapping up and down does not move its card back and forth
// (each card still shows its current status at once). memory is a Map the caller keeps between calls
// (site → { rank, since }); now is the time in ms.
export function orderSites(sums, memory, now, holdMs = 60000) {
  const rankOf = (s) => {
    const rank = STATUS_RANK[s.status] ?? 2;
    const m = memory.get(s.name);
    if (!m || rank <= m.rank) {
      memory.set(s.name, { rank, better: null });
      return rank;
    }
    // Better than the place it holds: move only once it has been better for holdMs.
    if (m.better === null) m.better = now;
    if (now - m.better >= holdMs) {
      memory.set(s.name, { rank, better: null });
      return rank;
    }
    return m.rank;
  };
  const ranked = sums.map((s) => ({ s, rank: rankOf(s) }));
  for (const name of [...memory.keys()]) if (!sums.some((s) => s.name === name)) memory.delete(name);
  return ranked.sort((a, b) => (a.rank - b.rank) || (a.s.name < b.s.name ? -1 : a.s.name > b.s.name ? 1 : 0)).map((x) => x.s);
}

// markerState is the live state of a plan marker: "critical" or "warning" when an alert about the device or
// camera fires (acknowledged ones included), "down" when a camera is not online or a device is silent,
// "unknown" when the item is not in the lists, else "ok"; reason says why in words.
export function markerState(m, { site = "", devices = [], cameras = [], alerts = [], silent = () => false } = {}) {
  const d = m.kind === "device" ? devices.find((x) => x.id === m.id) : null;
  const c = m.kind === "camera" ? cameras.find((x) => x.id === m.id) : null;
  const firing = m.kind === "camera" ? firingFor(alerts, { camera: m.id })
    : firingFor(alerts, { device: d?.labels?.device || m.id, site: d?.labels?.site || site });
  if (firing.length) {
    const a = firing.find((x) => x.labels?.severity === "critical") || firing[0];
    return { state: a.labels?.severity === "critical" ? "critical" : "warning", reason: REASONS[a.rule] ? plural(REASONS[a.rule], 1) : a.rule };
  }
  if (m.kind === "camera") {
    if (!c) return { state: "unknown", reason: t("plan.unknown") };
    if (c.state !== "online") return { state: "down", reason: t("plan.camera_down", { state: tOr(`state.${c.state}`, c.state) }) };
    return { state: "ok", reason: t("plan.ok") };
  }
  if (!d) return { state: "unknown", reason: t("plan.unknown") };
  if (silent(d)) return { state: "down", reason: t("plan.device_silent") };
  return { state: "ok", reason: t("plan.ok") };
}
