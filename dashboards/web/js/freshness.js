// Device freshness: is a device reporting, silent (quiet for longer than its own rhythm), or unknown because
// the page itself is stale (the server or the stream froze)?
//
// Each device's expected message interval is learned in the page from what the API already says: a first
// estimate from its totals ((last_seen − first_seen) / (messages − 1)), then from every update, Δlast_seen /
// Δmessages, smoothed. The live stream coalesces a device's messages per batch, so the division by the
// message count keeps the estimate right for devices faster than the batch interval. A device is silent when
// it has been quiet for FACTOR expected intervals plus SLACK (at least MIN_SILENT); until its rate is known,
// after FALLBACK_SILENT.
//
// While the page is stale nothing is said about the devices' own silence: their ages are taken at the last
// moment the page knew its data to be current, and the views say "no data since HH:MM:SS" instead.

import { serverNow, toServer, toLocal, hhmmss } from "./clock.js";
import { tOr } from "./i18n.js";

export const FALLBACK_SILENT = 30; // s: the demo rules' silence threshold, for devices whose rate is unknown
export const FACTOR = 3; // expected intervals a device may miss before it is called silent
export const SLACK = 2; // s on top: the server's batching (1 s) and delivery
export const MIN_SILENT = 5; // s: never call a device silent sooner
const WEIGHT = 0.3; // of a new sample in the smoothed interval
const MAX_INTERVAL = 86400; // s

// isZeroTime reports Go's zero time.Time, which the API sends for "never".
function isZeroTime(t) { return !t || String(t).startsWith("0001-01-01"); }

// fromTotals is a device's mean message interval over its life, in s, or undefined.
export function fromTotals(d) {
  const first = Date.parse(d.first_seen), last = Date.parse(d.last_seen), n = Number(d.messages);
  if (isZeroTime(d.first_seen) || !Number.isFinite(first) || !Number.isFinite(last) || !(n >= 2) || last <= first) return undefined;
  return clamp((last - first) / 1000 / (n - 1));
}

function clamp(s) { return Math.min(MAX_INTERVAL, Math.max(0.01, s)); }

// Rates learns each device's expected message interval.
export class Rates {
  constructor() { this.byId = new Map(); }

  // observe takes a device as the API or the stream sent it.
  observe(d) {
    if (!d || d.id == null || isZeroTime(d.last_seen)) return;
    const id = String(d.id);
    const last = Date.parse(d.last_seen), msgs = Number(d.messages);
    if (!Number.isFinite(last) || !Number.isFinite(msgs)) return;
    const prev = this.byId.get(id);
    if (prev && last <= prev.last) return; // nothing new (such as an older REST answer)
    if (!prev || msgs < prev.messages) { // first sight, or the server forgot the device and counts anew
      this.byId.set(id, { last, messages: msgs, expected: fromTotals(d) });
      return;
    }
    if (msgs === prev.messages) return;
    const sample = clamp((last - prev.last) / 1000 / (msgs - prev.messages));
    const expected = prev.expected === undefined ? sample : prev.expected * (1 - WEIGHT) + sample * WEIGHT;
    this.byId.set(id, { last, messages: msgs, expected });
  }

  // expected is a device's learned message interval in s, or undefined.
  expected(id) { return this.byId.get(String(id))?.expected; }
}

// silentAfter is how long (s) a device with this expected interval may be quiet before it is silent.
export function silentAfter(expected) {
  return expected === undefined ? FALLBACK_SILENT : Math.max(MIN_SILENT, FACTOR * expected + SLACK);
}

// classify is the rule, pure: a device last seen at lastSeen (RFC 3339, server time) with this expected
// interval, judged at the server time atMs. state is "live", "silent" or "never".
export function classify(lastSeen, expected, atMs) {
  const after = silentAfter(expected);
  const last = Date.parse(lastSeen);
  if (isZeroTime(lastSeen) || !Number.isFinite(last)) return { state: "never", age: Infinity, after, expected };
  const age = Math.max(0, (atMs - last) / 1000);
  return { state: age > after ? "silent" : "live", age, after, expected, last };
}

// rates is the page's learner; live.js feeds it every device it receives.
export const rates = new Rates();

// deviceFreshness judges a device for display. page is live.js pageState(): {live, dataAt}. The result has
// state "live", "silent", "never" or "stale" (the page's own data is not current), and silent: the device's
// own verdict at the last moment the page's data was current.
export function deviceFreshness(d, page) {
  const at = page.live ? serverNow() : toServer(page.dataAt);
  const f = classify(d.last_seen, rates.expected(d.id), at);
  return { ...f, silent: f.state !== "live", state: page.live ? f.state : "stale", dataAt: page.dataAt };
}

// fmtAge renders seconds as "4 s", "3 min", "2 h 5 min", "3 d".
export function fmtAge(s) {
  if (!Number.isFinite(s)) return tOr("time.never", "never");
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d`;
}

// fmtEvery renders an expected interval: "1 s", "0.5 s", "5 min".
export function fmtEvery(s) { return s < 10 ? `${Number(s.toFixed(1))} s` : fmtAge(s); }

// freshnessText says in words what a device's freshness is, for its tile or row.
export function freshnessText(f) {
  switch (f.state) {
    case "never": return tOr("fresh.never", "never seen");
    case "stale": return tOr("fresh.stale", "no data since {time} — the page is not receiving updates", { time: hhmmss(f.dataAt) });
    case "silent": {
      const rhythm = f.expected === undefined ? tOr("fresh.silent_after", "silent after {d}", { d: fmtAge(f.after) })
        : tOr("fresh.expected", "expected every {d}", { d: fmtEvery(f.expected) });
      return tOr("fresh.silent", "silent — no message since {time} ({rhythm}) · last seen {age} ago",
        { time: hhmmss(toLocal(f.last)), rhythm, age: fmtAge(f.age) });
    }
    default: return tOr("fresh.live", "last seen {age} ago", { age: fmtAge(f.age) });
  }
}

// bySilence orders devices silent first (longest silent first), then the reporting ones by id, so tiles and
// rows keep their places between updates.
// sortBySilence is list sorted as bySilence sorts it, judging each device once rather than once per
// comparison (a site's 500 devices are sorted on every live update).
export function sortBySilence(list, page) {
  const keyed = list.map((d) => { const f = deviceFreshness(d, page); return { d, silent: f.silent, age: f.age, id: String(d.id) }; });
  keyed.sort((a, b) => {
    if (a.silent !== b.silent) return a.silent ? -1 : 1;
    if (a.silent && a.age !== b.age) return b.age - a.age;
    // localeCompare, not an Intl.Collator made when the module loads: making one loads the locale's
    // collation data, which was most of the page's script evaluation on a phone (a long task after the first
    // paint), while V8 compares plain ASCII strings in the default locale without it, in the same order.
    return a.id.localeCompare(b.id);
  });
  return keyed.map((k) => k.d);
}

export function bySilence(page) {
  return (a, b) => {
    const fa = deviceFreshness(a, page), fb = deviceFreshness(b, page);
    if (fa.silent !== fb.silent) return fa.silent ? -1 : 1;
    if (fa.silent && fa.age !== fb.age) return fb.age - fa.age;
    return String(a.id).localeCompare(String(b.id));
  };
}
