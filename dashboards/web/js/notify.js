// Opt-in alerting while the page is open: a browser notification (Notification API) and, separately, a short
// sound for each new critical alert. Both are off until the user turns them on (the header's bell menu); the
// choice is remembered in this browser. Alerts already firing when the page loads are not news.

import { subscribe } from "./live.js";
import { el } from "./dom.js";
import { t, localized } from "./i18n.js";

const KEY = "citywatch.notify";
let prefs = { notify: false, sound: false };
let seen = null; // ids of critical alerts known firing; null until the first list
let unsub = null;
let audio = null;

function loadPrefs() {
  try { prefs = { ...prefs, ...JSON.parse(localStorage.getItem(KEY) || "{}") }; } catch { /* defaults */ }
}

function savePrefs() {
  try { localStorage.setItem(KEY, JSON.stringify(prefs)); } catch { /* this page only */ }
}

// newCritical are the critical firing alerts of list not in seen (pure, for the tests).
export function newCritical(list, seenIds) {
  return list.filter((a) => a.state === "firing" && a.labels?.severity === "critical" && !a.acked_by && !seenIds.has(a.id));
}

function watch() {
  if (unsub || !(prefs.notify || prefs.sound)) return;
  unsub = subscribe("alerts", (list) => {
    const fresh = seen ? newCritical(list, seen) : [];
    seen = new Set(list.filter((a) => a.state === "firing" && a.labels?.severity === "critical").map((a) => a.id));
    for (const a of fresh) alertUser(a);
  });
}

function unwatch() {
  if (unsub && !(prefs.notify || prefs.sound)) { unsub(); unsub = null; seen = null; }
}

function alertUser(a) {
  const where = [a.labels?.site, a.labels?.device || a.labels?.camera].filter(Boolean).join(" · ");
  if (prefs.notify && typeof Notification !== "undefined" && Notification.permission === "granted") {
    try {
      const n = new Notification(t("notify.title", { rule: a.rule }), { body: [where, localized(a.annotations, "summary")].filter(Boolean).join("\n"), tag: `citywatch-alert-${a.id}` });
      n.onclick = () => { window.focus(); location.hash = "#/alerts/firing"; n.close(); };
    } catch { /* some browsers only notify from a service worker */ }
  }
  if (prefs.sound) beep();
}

// beep plays two short tones (WebAudio: no sound file to load).
function beep() {
  try {
    audio = audio || new AudioContext();
    const now = audio.currentTime;
    for (const [at, f] of [[0, 880], [0.25, 660]]) {
      const o = audio.createOscillator(), g = audio.createGain();
      o.frequency.value = f;
      g.gain.setValueAtTime(0.2, now + at);
      g.gain.exponentialRampToValueAtTime(0.001, now + at + 0.2);
      o.connect(g).connect(audio.destination);
      o.start(now + at);
      o.stop(now + at + 0.2);
    }
  } catch { /* no audio */ }
}

// notifyControls are the two opt-in switches, for the header menu.
export function notifyControls() {
  loadPrefs();
  const supported = typeof Notification !== "undefined";
  const nBox = el("input", { type: "checkbox", id: "opt-notify", checked: prefs.notify && supported && Notification.permission === "granted", disabled: !supported });
  const sBox = el("input", { type: "checkbox", id: "opt-sound", checked: prefs.sound });
  nBox.addEventListener("change", async () => {
    if (nBox.checked && Notification.permission !== "granted") {
      const p = await Notification.requestPermission().catch(() => "denied");
      if (p !== "granted") nBox.checked = false;
    }
    prefs.notify = nBox.checked;
    savePrefs();
    prefs.notify ? watch() : unwatch();
  });
  sBox.addEventListener("change", () => {
    prefs.sound = sBox.checked;
    savePrefs();
    if (prefs.sound) { beep(); watch(); } else unwatch();
  });
  watch();
  return [
    el("div", { class: "opt" }, nBox, el("label", { for: "opt-notify" }, t("notify.browser"))),
    el("div", { class: "opt" }, sBox, el("label", { for: "opt-sound" }, t("notify.sound"))),
  ];
}
