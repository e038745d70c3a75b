// Ward rooms on the site plan: a room's marker state from the ward's round state (sent with the plan) and the
// alerts firing about the room (label room, live). Words and an icon say it, not colour alone; the case id is
// the only name shown (the plan is for every reader of the site).

import { t } from "./i18n.js";
import { siteReasons } from "./sitestatus.js";

// roomState returns { state, reason } for a room r ({ name, state, case_id, round }) of site: "critical" for
// a febrile round reading or a critical alert naming the room, "warning" for a missed round or another alert,
// "ok" for an occupied room, "vacant" for an empty one.
export function roomState(r, { site = "", alerts = [] } = {}) {
  const firing = alerts.filter((a) => a.state === "firing" && a.labels?.site === site && a.labels?.room === r.name);
  const who = r.case_id ? t("plan.room_case", { case: r.case_id }) : "";
  const parts = [];
  let state = r.state === "fever" ? "critical" : r.state === "missing" ? "warning" : r.state === "occupied" ? "ok" : "vacant";
  if (r.state === "fever") parts.push(t("plan.room_fever", { round: r.round || "" }));
  if (r.state === "missing") parts.push(t("plan.room_missing", { round: r.round || "" }));
  if (firing.length) {
    const byRule = {};
    for (const a of firing) {
      const sev = a.labels?.severity === "critical" ? "critical" : "warning";
      const cur = byRule[a.rule] || { n: 0, severity: "warning" };
      byRule[a.rule] = { n: cur.n + 1, severity: cur.severity === "critical" ? "critical" : sev };
    }
    for (const x of siteReasons({ byRule })) if (!parts.includes(x.text)) parts.push(x.text);
    if (firing.some((a) => a.labels?.severity === "critical")) state = "critical";
    else if (state !== "critical") state = "warning";
  }
  if (!parts.length) parts.push(state === "vacant" ? t("plan.room_vacant") : t("plan.room_occupied"));
  return { state, reason: [parts.join(", "), who].filter(Boolean).join(" — ") };
}
