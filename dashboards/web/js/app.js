// The dashboard shell: who is signed in, navigation by permission, hash routing to views, and the live
// indicator. Every view is a module exporting render(root, params, ctx) that returns a cleanup function.

import { get, post, setCSRF, toLogin } from "./api.js";
import { onStatus } from "./live.js";
import { hhmmss } from "./clock.js";
import { el, replace, errorBox } from "./dom.js";
import * as overview from "./views/overview.js";
import * as site from "./views/site.js";
import * as camera from "./views/camera.js";
import * as alerts from "./views/alerts.js";
import * as devices from "./views/devices.js";
import * as rules from "./views/rules.js";
import * as deliveries from "./views/deliveries.js";
import * as explore from "./views/explore.js";
import * as audit from "./views/audit.js";
import * as ward from "./views/ward.js";

// ROUTES: hash path pattern, view, title, nav entry (label) and the permission it needs.
const ROUTES = [
  { path: "", view: overview, title: "Overview", nav: "Overview", need: "read" },
  { path: "site/:site", view: site, title: "Site", need: "read" },
  { path: "camera/:id", view: camera, title: "Camera", need: "read" },
  { path: "alerts", view: alerts, title: "Alerts", nav: "Alerts", need: "read" },
  { path: "alerts/:tab", view: alerts, title: "Alerts", need: "read" },
  { path: "devices", view: devices, title: "Devices", nav: "Devices", need: "read" },
  { path: "rules", view: rules, title: "Rules", nav: "Rules", need: "read" },
  { path: "deliveries", view: deliveries, title: "Deliveries", nav: "Deliveries", need: "replay" },
  { path: "explore", view: explore, title: "Explore", nav: "Explore", need: "read" },
  { path: "audit", view: audit, title: "Audit", nav: "Audit", need: "read_audit" },
  { path: "ward", view: ward, title: "Ward", nav: "Ward", need: "read" },
  { path: "ward/:site", view: ward, title: "Ward", need: "read" },
];

let ctx = null;
let cleanup = () => {};

function match(hash) {
  const [pathPart, queryPart = ""] = hash.replace(/^#\/?/, "").split("?");
  const parts = pathPart.split("/").filter(Boolean);
  for (const r of ROUTES) {
    const pat = r.path.split("/").filter(Boolean);
    if (pat.length !== parts.length) continue;
    const params = {};
    let ok = true;
    pat.forEach((p, i) => {
      if (p.startsWith(":")) params[p.slice(1)] = decodeURIComponent(parts[i]);
      else if (p !== parts[i]) ok = false;
    });
    if (ok) return { route: r, params, query: new URLSearchParams(queryPart) };
  }
  return null;
}

function route() {
  try { cleanup(); } catch (e) { console.error(e); }
  cleanup = () => {};
  const main = document.getElementById("main");
  const m = match(location.hash);
  for (const a of document.querySelectorAll("#nav a")) {
    const current = m && m.route.nav && a.dataset.path === m.route.path.split("/")[0];
    if (current) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  if (!m || !ctx.can(m.route.need)) {
    document.title = "Not found — citywatch";
    replace(main, el("h1", {}, "Not found"), el("p", {}, "There is no such page, or you may not see it. ", el("a", { href: "#/" }, "Go to the overview.")));
    return;
  }
  document.title = `${m.route.title} — citywatch`;
  main.replaceChildren();
  try {
    cleanup = m.route.view.render(main, { ...m.params, query: m.query }, ctx) || (() => {});
  } catch (e) {
    console.error(e);
    replace(main, errorBox(e));
  }
  if (document.activeElement && document.activeElement !== document.body && !main.contains(document.activeElement)) main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

function renderNav() {
  const nav = document.getElementById("nav");
  replace(nav, el("ul", {}, ROUTES.filter((r) => r.nav && ctx.can(r.need)).map((r) =>
    el("li", {}, el("a", { href: `#/${r.path}`, "data-path": r.path }, r.nav)))));
}

// LIVE_TEXT says the live state in words (the dot's colour only reinforces it).
const LIVE_TEXT = {
  live: () => "live",
  stale: (s) => `stale — no data since ${hhmmss(s.dataAt)}`,
  disconnected: () => "disconnected — retrying",
  connecting: () => "connecting…",
};

function renderLive() {
  const live = document.getElementById("live");
  const text = document.getElementById("live-text");
  onStatus((s) => {
    live.dataset.state = s.state;
    document.body.dataset.live = s.state; // views grey what they show unless live
    const words = (LIVE_TEXT[s.state] || LIVE_TEXT.connecting)(s);
    // The indicator is a live region: only a real change is announced.
    if (text.textContent !== words) text.textContent = words;
    live.title = s.error || "";
  });
}

async function boot() {
  let me;
  try {
    me = await get("/api/me");
  } catch (e) {
    if (e.status !== 401) replace(document.getElementById("main"), errorBox(e));
    return;
  }
  setCSRF(me.csrf_token);
  const perms = new Set(me.permissions || []);
  ctx = {
    me,
    can: (action) => perms.has(action),
    // sites is the user's site restriction; empty means every site.
    sites: me.sites || [],
  };
  document.getElementById("who").textContent = `${me.user} (${me.role.replace("_", " ")})`;
  const logout = document.getElementById("logout");
  // A server with anonymous read access (the demo) answers /api/me without a session: offer to sign in.
  const anonymous = me.user === "anonymous" && !me.csrf_token;
  logout.textContent = anonymous ? "Sign in" : "Sign out";
  logout.addEventListener("click", async () => {
    if (!anonymous) {
      try { await post("/api/logout"); } catch { /* the session is gone either way */ }
    }
    toLogin();
  });
  renderNav();
  renderLive();
  addEventListener("hashchange", route);
  route();
}

boot();
