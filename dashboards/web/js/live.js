// Live updates for every view. Views subscribe to a topic ("devices", "cameras", "alerts") and get the whole
// current list on every change.
//
// Changes arrive over Server-Sent Events from GET /api/events: once a second the server sends one message per
// changed thing ("event: device|camera|alert", data: that thing's JSON, already scoped to the user's sites),
// "event: reload" when this client fell behind, and every few seconds "event: ping" with the server's time and
// the ping interval. The events are merged by id into the lists the views render. REST fills the lists: when a
// view subscribes, whenever the stream (re)opens (the server only sends changes made after that), on
// "reload", and every 30 s as a safety net (every 10 s while the stream is down, so a page behind a proxy that
// breaks streaming still moves).
//
// The indicator says "live" while the stream is open and news keeps coming, "disconnected" when the stream
// breaks, and "stale" when it is open but nothing (no ping, no data) came for two ping intervals — a frozen
// server or a dead connection the browser has not noticed — or when the pings say the server's live feed
// stopped (current_at lags). pageState() tells views whether what they show is current and since when, so
// they can grey it and say "no data since HH:MM:SS". The browser's EventSource reconnects by itself; when it
// gives up (readyState CLOSED: an HTTP error such as an ended session), this module recreates it with backoff.
// window.__citywatchLive exposes counters for diagnostics and the browser tests.

import { get, APIError } from "./api.js";
import { setServerTime, toLocal, onTick } from "./clock.js";
import { rates } from "./freshness.js";

// batch=1: the server sends each batch as one "batch" message ([[kind, item], ...]) rather than one message
// per changed thing: the browser dispatches every message as an event, and 500 of them a second cost a phone
// more than parsing them does.
const EVENTS_URL = "/api/events?batch=1";
const REFRESH_OPEN = 30000; // safety-net REST refresh while the stream is open
const REFRESH_DOWN = 10000; // REST refresh while the stream is down
const RETRY_MIN = 3000; // first delay before recreating a closed EventSource (the server's retry: value)
const RETRY_MAX = 30000;
const COALESCE = 100; // events of one server batch arrive as separate messages: render once per burst
const SLICE_MS = 8; // merging queued stream messages yields to the page this often
const INBOX_MAX = 50000; // queued stream messages; beyond, the backlog is dropped and the lists reloaded
const ALERTS_LIMIT = 500;
const PING_DEFAULT = 5000; // the ping interval assumed until the first ping tells the real one
const STALE_PINGS = 2; // ping intervals without news after which the page is stale

// TOPICS maps a topic to the endpoint that lists it, the key holding the list, and the SSE event kind.
const TOPICS = {
  devices: { path: "/api/devices", key: "devices", kind: "device" },
  cameras: { path: "/api/cameras", key: "cameras", kind: "camera" },
  alerts: { path: `/api/alerts?limit=${ALERTS_LIMIT}`, key: "alerts", kind: "alert" },
};
const KIND_TOPIC = Object.fromEntries(Object.entries(TOPICS).map(([t, v]) => [v.kind, t]));

const subs = new Map(); // topic → Set of callbacks
const items = new Map(); // topic → Map id → item: the merged state
const lists = new Map(); // topic → last list handed to subscribers (only once REST has loaded the topic)
const touched = new Map(); // topic → Map id → performance.now() of the last stream update
const unavailable = new Set(); // topics the server does not serve to this user (403/404)
const inflight = new Set(); // topics with a REST load running
const again = new Set(); // topics to load once more when their running load ends
const dirty = new Set(); // topics changed by the stream since the last publish
const inbox = []; // stream messages [kind, data, performance.now()] not merged yet
const statusSubs = new Set();
let status = { state: "connecting", since: Date.now(), error: "", cause: "", dataAt: Date.now() };
let pingInterval = PING_DEFAULT;
let lastContact = performance.now(); // the last message from the server (stream or REST)
let dataAt = Date.now(); // until when (this browser's clock) the shown data is known to be current
let feedStalledAt = 0; // when the pings say the server's feed stopped (this browser's clock), or 0
let es = null;
let retryTimer = 0;
let retries = 0;
let refreshTimer = 0;
let flushTimer = 0;

// diag is window.__citywatchLive: what the live layer does, for diagnostics and the browser tests.
const diag = {
  transport: typeof EventSource === "function" ? "sse" : "poll",
  state: "connecting", // the stream: connecting | open | closed | evicted
  events: 0, // stream messages merged (device, camera, alert)
  byKind: { device: 0, camera: 0, alert: 0, reload: 0, ping: 0, invalid: 0, batch: 0 },
  pingInterval, // ms, as the server's pings say
  opens: 0,
  errors: 0,
  evicted: 0, // times the server ended this page's stream for a newer page of the same user
  restLoads: 0,
  inboxDropped: 0, // times the queued stream messages were dropped for a REST reload (the page fell behind)
  source: {}, // topic → "rest" | "sse": what produced the list subscribers got last
  reconnect, // closes the stream and opens a new one now
};
window.__citywatchLive = diag;

// subscribe calls fn(list) now (if a value is known) and after every change; it returns the unsubscribe
// function. Each subscription also loads the topic over REST once, so a view starts from fresh state.
export function subscribe(topic, fn) {
  if (!TOPICS[topic]) throw new Error(`unknown live topic ${topic}`);
  if (!subs.has(topic)) subs.set(topic, new Set());
  subs.get(topic).add(fn);
  if (lists.has(topic)) fn(lists.get(topic));
  connect();
  // One REST load per list per page load: while the stream is connecting, its opening loads every wanted
  // topic (loading now as well would fetch each list twice); while it is open, a list already loaded is kept
  // current by it. Otherwise (stream down, no EventSource) load now.
  const streaming = diag.transport === "sse" && (diag.state === "connecting" || diag.state === "open");
  if (!streaming || (diag.state === "open" && !lists.has(topic))) load([topic]);
  return () => subs.get(topic).delete(fn);
}

// start opens the live stream at page load, so every page — also those that show no live list — says
// whether it is live, and the first lists load once, when the stream opens.
export function start() { connect(); }

// latest is the last known list of a topic, or undefined.
export function latest(topic) { return lists.get(topic); }

// merge folds one item (such as a single camera fetched by a view) into a topic's state and publishes it.
export function merge(topic, item) {
  if (!TOPICS[topic] || !item || item.id == null) return;
  put(topic, item);
  if (lists.has(topic)) publish(topic, "rest");
}

// onStatus calls fn({state: "connecting"|"live"|"stale"|"disconnected", since, error, cause, dataAt}) now and on
// every change. dataAt is when (this browser's clock) the data shown was last known to be current. cause is
// "evicted" while the page is disconnected because a newer page of the same user took its stream (it does not
// retry by itself then), else "".
export function onStatus(fn) {
  statusSubs.add(fn);
  fn(status);
  return () => statusSubs.delete(fn);
}

// pageState says whether the data the views show is current (live) and, when not, since when it has not
// been (dataAt, this browser's clock).
export function pageState() {
  return { live: status.state !== "stale" && status.state !== "disconnected", dataAt };
}

// refresh reloads every subscribed topic over REST now (after an action such as an ack).
export function refresh() {
  load(wanted());
}

function setStatus(state, error = "", cause = "") {
  // While live the data is current by definition: news does not re-announce the indicator.
  if (status.state === state && status.error === error && status.cause === cause && (state === "live" || status.dataAt === dataAt)) return;
  status = { state, since: state === status.state ? status.since : Date.now(), error, cause, dataAt };
  for (const fn of statusSubs) fn(status);
}

// contact records news from the server: the shown data is current as of now (unless the pings say the
// server's feed stopped), and a stale page is live again.
function contact() {
  lastContact = performance.now();
  dataAt = feedStalledAt || Date.now();
  checkStale();
}

// checkStale turns an open stream stale after STALE_PINGS ping intervals without news, or while the pings
// say the server's feed stopped, and live again when news comes. A broken stream says "disconnected".
function checkStale() {
  if (diag.transport === "sse" && diag.state !== "open") return;
  if (status.state !== "live" && status.state !== "stale") return;
  const quiet = performance.now() - lastContact > STALE_PINGS * pingInterval;
  if (feedStalledAt) {
    setStatus("stale", "The server's live feed stopped updating: what the page shows may be out of date.");
  } else if (quiet) {
    setStatus("stale", "Nothing has come from the server for a while: what the page shows may be out of date.");
  } else {
    setStatus("live");
  }
}
onTick(checkStale);

function wanted() {
  return [...subs.entries()].filter(([t, s]) => s.size > 0 && !unavailable.has(t)).map(([t]) => t);
}

function stateOf(topic) {
  if (!items.has(topic)) items.set(topic, new Map());
  return items.get(topic);
}

// put merges an item into its topic; fields the item lacks (such as a camera's analysis, which only the REST
// answer carries) keep their last value.
function put(topic, item) {
  const m = stateOf(topic);
  const id = String(item.id);
  const old = m.get(id);
  m.set(id, old ? { ...old, ...item } : item);
}

function listOf(topic) {
  let list = [...stateOf(topic).values()];
  if (topic === "alerts") {
    // The REST order: newest activation first.
    list.sort((a, b) => (Date.parse(b.active_at) || 0) - (Date.parse(a.active_at) || 0) || b.id - a.id);
    if (list.length > ALERTS_LIMIT) {
      for (const a of list.slice(ALERTS_LIMIT)) stateOf(topic).delete(String(a.id));
      list = list.slice(0, ALERTS_LIMIT);
    }
  }
  return list;
}

function publish(topic, source) {
  // Until REST has loaded a topic the merged state is partial: keep it, show nothing yet.
  if (!lists.has(topic) && source !== "rest") return;
  // The first data of each topic is a user-visible milestone: mark it for performance measurements.
  if (!lists.has(topic) && performance.mark) performance.mark(`citywatch:first-${topic}`);
  const list = listOf(topic);
  lists.set(topic, list);
  diag.source[topic] = source;
  for (const fn of subs.get(topic) || []) {
    try { fn(list); } catch (e) { console.error(`live ${topic} subscriber`, e); }
  }
}

// load fetches topics over REST and replaces their state with the answer, except for items the stream
// updated after the request went out (those are newer than the answer).
function load(topics) {
  for (const topic of topics) {
    if (unavailable.has(topic)) continue;
    if (inflight.has(topic)) { again.add(topic); continue; }
    loadOne(topic);
  }
}

async function loadOne(topic) {
  inflight.add(topic);
  const started = performance.now();
  const { path, key } = TOPICS[topic];
  try {
    const data = await get(path);
    diag.restLoads++;
    contact();
    const fresh = new Map();
    for (const item of (data && data[key]) || []) {
      if (!item || item.id == null) continue;
      fresh.set(String(item.id), item);
      if (topic === "devices") rates.observe(item);
    }
    const cur = stateOf(topic);
    for (const [id, at] of touched.get(topic) || []) {
      if (at >= started && cur.has(id)) fresh.set(id, { ...(fresh.get(id) || {}), ...cur.get(id) });
    }
    items.set(topic, fresh);
    publish(topic, "rest");
  } catch (e) {
    if (e instanceof APIError && (e.status === 403 || e.status === 404)) {
      unavailable.add(topic); // not for this user or not served: not an outage
      items.set(topic, new Map());
      publish(topic, "rest");
    } else if (!(e instanceof APIError && e.status === 401)) {
      console.warn(`live: loading ${topic} failed: ${e.message || e}`);
    }
  } finally {
    inflight.delete(topic);
    if (again.delete(topic)) load([topic]);
  }
}

// connect opens the event stream unless it is open or a reconnect is scheduled.
function connect() {
  if (es || retryTimer) return;
  scheduleRefresh();
  if (diag.transport !== "sse") {
    setStatus("live"); // no EventSource in this browser: the REST refresh is all there is
    return;
  }
  diag.state = "connecting";
  const s = new EventSource(EVENTS_URL) // same origin: the session cookie goes along;
  es = s;
  s.onopen = () => {
    if (es !== s) return;
    diag.state = "open";
    diag.opens++;
    retries = 0;
    lastContact = performance.now();
    feedStalledAt = 0;
    setStatus("live");
    contact();
    // The stream carries only changes made from now on: reload what changed while it was not open.
    refresh();
    scheduleRefresh();
  };
  s.onerror = () => {
    if (es !== s) return;
    diag.errors++;
    if (s.readyState === EventSource.CLOSED) {
      // The browser gave up (an HTTP error, such as an ended session or a restarting proxy): recreate the
      // stream with backoff. The REST refresh that follows also sends an ended session to the sign-in page.
      diag.state = "closed";
      es = null;
      s.close();
      const delay = Math.min(RETRY_MAX, RETRY_MIN * 2 ** Math.min(retries, 4)) * (0.8 + 0.4 * Math.random());
      retries++;
      retryTimer = setTimeout(() => { retryTimer = 0; connect(); }, delay);
      refresh();
    } else {
      diag.state = "connecting"; // the browser reconnects by itself after the server's retry interval
    }
    setStatus("disconnected", "The live event stream is interrupted; reconnecting.");
    scheduleRefresh();
  };
  for (const kind of Object.keys(KIND_TOPIC)) s.addEventListener(kind, (ev) => { if (es === s) onEvent(kind, ev.data); });
  s.addEventListener("batch", (ev) => { if (es === s) onBatch(ev.data); });
  s.addEventListener("reload", () => {
    if (es !== s) return;
    diag.byKind.reload++;
    contact();
    refresh();
  });
  s.addEventListener("ping", (ev) => { if (es === s) onPing(ev.data); });
  // The server handed this stream's place to a newer page of the same user (over the per-user cap of open
  // streams): do not reconnect by itself, which would end that page's stream in turn; refresh over REST
  // instead, and stream again when the user comes back to this page (visibilitychange) or it subscribes anew.
  s.addEventListener("evicted", () => {
    if (es !== s) return;
    diag.evicted++;
    diag.state = "evicted";
    es = null;
    s.close();
    setStatus("disconnected", "Live updates moved to a newer page of yours; this one refreshes every 10 s.", "evicted");
    scheduleRefresh();
  });
}

// closeStream closes the stream and cancels a pending retry.
function closeStream() {
  if (es) es.close();
  es = null;
  clearTimeout(retryTimer);
  retryTimer = 0;
}

// reconnect closes the stream and opens a new one now.
function reconnect() {
  closeStream();
  retries = 0;
  connect();
}

// onPing takes a ping: the server's time (for ages on the server's clock), the interval to expect the next
// one within, and how current the server's feed is.
function onPing(data) {
  diag.byKind.ping++;
  let p;
  try { p = JSON.parse(data); } catch { p = null; }
  if (p && typeof p === "object") {
    const t = Date.parse(p.time);
    if (Number.isFinite(t)) setServerTime(t);
    if (Number.isFinite(p.interval_ms) && p.interval_ms > 0) diag.pingInterval = pingInterval = p.interval_ms;
    const cur = Date.parse(p.current_at);
    feedStalledAt = Number.isFinite(t) && Number.isFinite(cur) && t - cur > STALE_PINGS * pingInterval ? toLocal(cur) : 0;
  }
  contact();
}

// onEvent takes a stream message. The browser dispatches a whole server batch (a site's 500 devices every
// second) in one task, so messages are only queued here and merged at the flush, in slices.
function onEvent(kind, data) {
  contact();
  queue(kind, data);
}

// queue puts a message's data (or a batch's item) in the inbox and schedules the flush.
function queue(kind, data) {
  if (inbox.length >= INBOX_MAX) {
    // The page cannot keep up with the stream: drop the backlog and reload the lists instead (bounded memory).
    inbox.length = 0;
    diag.inboxDropped++;
    refresh();
  }
  inbox.push([kind, data, performance.now()]);
  if (!flushTimer) flushTimer = setTimeout(flush, COALESCE);
}

// onBatch takes a "batch" message: [[kind, item], ...], parsed once and queued as onEvent queues messages.
function onBatch(data) {
  diag.byKind.batch++;
  let list;
  try { list = JSON.parse(data); } catch { list = null; }
  contact();
  if (!Array.isArray(list)) {
    diag.byKind.invalid++;
    if (diag.byKind.invalid <= 3) console.warn("live: ignoring a batch that is not a list");
    return;
  }
  for (const e of list) if (Array.isArray(e) && KIND_TOPIC[e[0]]) queue(e[0], e[1]);
}

// mergeEvent merges one queued item: a message's JSON text, or an object from a batch.
function mergeEvent(kind, data, at) {
  let item = data;
  if (typeof data === "string") { try { item = JSON.parse(data); } catch { item = null; } }
  if (!item || typeof item !== "object" || item.id == null) {
    diag.byKind.invalid++;
    if (diag.byKind.invalid <= 3) console.warn(`live: ignoring a ${kind} event without an id`);
    return;
  }
  const topic = KIND_TOPIC[kind];
  if (unavailable.has(topic)) return;
  diag.events++;
  diag.byKind[kind]++;
  if (kind === "device") rates.observe(item);
  put(topic, item);
  if (!touched.has(topic)) touched.set(topic, new Map());
  touched.get(topic).set(String(item.id), at);
  dirty.add(topic);
}

// flush merges the queued messages, at most SLICE_MS at a time with a yield between slices (no long task,
// however big the batch), then hands each changed list to its subscribers once.
function flush() {
  flushTimer = 0;
  const until = performance.now() + SLICE_MS;
  let i = 0;
  while (i < inbox.length && (i === 0 || performance.now() < until)) { mergeEvent(...inbox[i]); i++; }
  inbox.splice(0, i);
  if (inbox.length) { flushTimer = setTimeout(flush, 0); return; }
  const now = performance.now();
  for (const topic of dirty) {
    // Stream updates only matter against REST answers still on their way; forget the old ones.
    for (const [id, at] of touched.get(topic) || []) if (now - at > 60000) touched.get(topic).delete(id);
  }
  publishDirty();
}

// publishDirty hands one changed list to its subscribers per task: a site page redraws its devices and its
// cameras in two tasks, not one twice as long.
function publishDirty() {
  flushTimer = 0;
  const [topic] = dirty;
  if (topic !== undefined) {
    dirty.delete(topic);
    publish(topic, "sse");
  }
  if (dirty.size) flushTimer = setTimeout(publishDirty, 0);
  else if (inbox.length) flushTimer = setTimeout(flush, COALESCE);
}

// scheduleRefresh (re)arms the safety-net REST refresh: slow while the stream is open, faster while not.
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const open = diag.state === "open" || diag.transport !== "sse";
  const delay = diag.transport === "sse" ? (open ? REFRESH_OPEN : REFRESH_DOWN) : 2000;
  refreshTimer = setTimeout(() => { refresh(); scheduleRefresh(); }, document.hidden ? Math.max(delay, REFRESH_OPEN) : delay);
}

document.addEventListener("visibilitychange", () => {
  if (document.hidden) return;
  if (diag.state === "evicted") reconnect();
  else if (diag.state !== "open") refresh();
});
addEventListener("online", () => { if (!es || es.readyState === EventSource.CLOSED) reconnect(); refresh(); });
// A page the browser keeps in its back/forward cache after the user navigates away would hold its stream's
// connection open: a browser allows six per server, so five pages visited in one tab left the sixth waiting
// for any request at all. The stream closes when the page is hidden that way and opens again if it comes back.
addEventListener("pagehide", closeStream);
addEventListener("pageshow", (ev) => { if (ev.persisted) { reconnect(); refresh(); } });
