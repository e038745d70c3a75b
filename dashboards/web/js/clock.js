// The page's clock: the server's time (learned from the live stream's pings, so "12 s ago" does not drift
// with this computer's clock) and one shared one-second tick that every "ago" text and staleness check runs
// on. Ages are computed from timestamps on each tick, never kept as frozen text.

let offset = 0; // the server's clock minus this browser's, in ms
const tickSubs = new Set();
let tickTimer = 0;

// setServerTime records the server's time serverMs as read at this browser's time atMs (a ping's "time").
export function setServerTime(serverMs, atMs = Date.now()) {
  if (Number.isFinite(serverMs)) offset = serverMs - atMs;
}

// serverNow is the server's time now, in ms since the epoch.
export function serverNow() { return Date.now() + offset; }

// toServer converts a time of this browser's clock to the server's; toLocal does the reverse.
export function toServer(localMs) { return localMs + offset; }
export function toLocal(serverMs) { return serverMs - offset; }

// hhmmss renders a time of this browser's clock as local "HH:MM:SS".
export function hhmmss(localMs) {
  const d = new Date(localMs);
  const p = (n) => String(n).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

// onTick calls fn once a second until the returned function is called.
export function onTick(fn) {
  tickSubs.add(fn);
  if (!tickTimer) tickTimer = setInterval(tick, 1000);
  return () => {
    tickSubs.delete(fn);
    if (!tickSubs.size) { clearInterval(tickTimer); tickTimer = 0; }
  };
}

function tick() {
  for (const fn of [...tickSubs]) {
    try { fn(); } catch (e) { console.error("tick", e); }
  }
}
