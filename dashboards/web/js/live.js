// Live updates for every view. Views subscribe to a topic ("devices", "cameras", "alerts") and get the whole
// current list on every change. Today this polls the REST API every 2 s, backing off while the server is
// unreachable; when /api/events (SSE) lands, only this module changes: an EventSource feeds the same
// publish() and drives the same status indicator.

import { get, APIError } from "./api.js";

const INTERVAL = 2000;
const MAX_BACKOFF = 30000;

// TOPICS maps a topic to the endpoint that lists it and the key holding the list.
const TOPICS = {
  devices: { path: "/api/devices", key: "devices" },
  cameras: { path: "/api/cameras", key: "cameras" },
  alerts: { path: "/api/alerts?limit=500", key: "alerts" },
};

const subs = new Map(); // topic → Set of callbacks
const last = new Map(); // topic → last list
const unavailable = new Set(); // topics the server does not serve to this user (403/404)
const statusSubs = new Set();
let status = { state: "connecting", since: Date.now(), error: "" };
let timer = 0;
let failures = 0;
let inflight = false;

// subscribe calls fn(list) now (if a value is known) and after every poll; it returns the unsubscribe function.
export function subscribe(topic, fn) {
  if (!TOPICS[topic]) throw new Error(`unknown live topic ${topic}`);
  if (!subs.has(topic)) subs.set(topic, new Set());
  subs.get(topic).add(fn);
  if (last.has(topic)) fn(last.get(topic));
  else refresh();
  return () => subs.get(topic).delete(fn);
}

// latest is the last known list of a topic, or undefined.
export function latest(topic) { return last.get(topic); }

// onStatus calls fn({state: "connecting"|"live"|"disconnected", since, error}) now and on every change.
export function onStatus(fn) {
  statusSubs.add(fn);
  fn(status);
  return () => statusSubs.delete(fn);
}

function setStatus(state, error = "") {
  if (status.state === state && status.error === error) return;
  status = { state, since: state === status.state ? status.since : Date.now(), error };
  for (const fn of statusSubs) fn(status);
}

function publish(topic, list) {
  // The first data of each topic is a user-visible milestone: mark it for performance measurements.
  if (!last.has(topic) && performance.mark) performance.mark(`citywatch:first-${topic}`);
  last.set(topic, list);
  for (const fn of subs.get(topic) || []) {
    try { fn(list); } catch (e) { console.error(`live ${topic} subscriber`, e); }
  }
}

// refresh polls now instead of at the next tick (after an action such as an ack).
export function refresh() {
  clearTimeout(timer);
  timer = setTimeout(tick, 0);
}

async function tick() {
  if (inflight) return;
  inflight = true;
  const wanted = [...subs.entries()].filter(([t, s]) => s.size > 0 && !unavailable.has(t)).map(([t]) => t);
  let ok = true;
  let error = "";
  await Promise.all(wanted.map(async (topic) => {
    const { path, key } = TOPICS[topic];
    try {
      const data = await get(path);
      publish(topic, (data && data[key]) || []);
    } catch (e) {
      if (e instanceof APIError && (e.status === 403 || e.status === 404)) {
        unavailable.add(topic); // not for this user or not served: not an outage
        publish(topic, []);
        return;
      }
      ok = false;
      error = e.message || String(e);
    }
  }));
  inflight = false;
  if (ok) {
    failures = 0;
    setStatus("live");
  } else {
    failures++;
    setStatus("disconnected", error);
  }
  const delay = ok ? INTERVAL : Math.min(MAX_BACKOFF, INTERVAL * 2 ** Math.min(failures, 5));
  clearTimeout(timer);
  timer = setTimeout(tick, document.hidden && ok ? INTERVAL * 5 : delay);
}

document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
addEventListener("online", refresh);
