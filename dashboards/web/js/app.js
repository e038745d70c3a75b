// The dashboard shell: who is signed in, navigation by permission, hash routing to views, and the live
// indicator. Every view is a module exporting render(root, params, ctx) that returns a cleanup function.

import { get, post, setCSRF, toLogin } from "./api.js";
import { onStatus, start as startLive } from "./live.js";
import { hhmmss } from "./clock.js";
import { el, replace, errorBox } from "./dom.js";
import { loadI18n, t, tOr, LANGS, currentLang, setLang } from "./i18n.js";
import { notifyControls } from "./notify.js";
import * as overview from "./views/overview.js";
import * as site from "./views/site.js";
import * as alerts from "./views/alerts.js";
import * as devices from "./views/devices.js";
import * as rules from "./views/rules.js";
import * as deliveries from "./views/deliveries.js";
import * as audit from "./views/audit.js";
import { lazy } from "./lazy.js";

// The everyday views load with the shell, so they open even while the server does not answer (a frozen or
// unreachable server: the page must still say what it knows and that it is stale). Views that chart (camera,
// Explore: they pull in the chart library, 41 KiB) and those few sessions open load on first use (a dynamic
// import), so the site page's code stays small.
const camera = lazy(() => import("./views/camera.js"));
const explore = lazy(() => import("./views/explore.js"));
const plan = lazy(() => import("./views/plan.js"));
const ward = lazy(() => import("./views/ward.js"));
const wall = lazy(() => import("./views/wall.js"));
const alertDetail = lazy(() => import("./views/alert.js"));

// ROUTES: hash path pattern, view, title (an i18n key, or a function of the params giving the text), nav
// entry (an i18n key) and the permission it needs.
const ROUTES = [
  { path: "", view: overview, title: "nav.overview", nav: "nav.overview", need: "read" },
  { path: "site/:site", view: site, title: (p) => `${p.site} — ${t("page.site")}`, need: "read" },
  { path: "plan/:site", view: plan, title: (p) => `${p.site} — ${t("plan.page")}`, need: "read" },
  { path: "camera/:id", view: camera, title: (p) => `${p.id} — ${t("page.camera")}`, need: "read" },
  { path: "alerts", view: alerts, title: "nav.alerts", nav: "nav.alerts", need: "read" },
  { path: "alerts/:tab", view: alerts, title: (p) => `${tOr(`alerts.tab.${p.tab}`, p.tab)} — ${t("nav.alerts")}`, need: "read" },
  { path: "devices", view: devices, title: "nav.devices", nav: "nav.devices", need: "read" },
  { path: "rules", view: rules, title: "nav.rules", nav: "nav.rules", need: "read" },
  { path: "deliveries", view: deliveries, title: "nav.deliveries", nav: "nav.deliveries", need: "replay" },
  { path: "explore", view: explore, title: "nav.explore", nav: "nav.explore", need: "read" },
  { path: "audit", view: audit, title: "nav.audit", nav: "nav.audit", need: "read_audit" },
  { path: "ward", view: ward, title: "nav.ward", nav: "nav.ward", need: "read" },
  { path: "ward/:site", view: ward, title: (p) => `${p.site} — ${t("nav.ward")}`, need: "read" },
  { path: "alert/:id", view: alertDetail, title: (p) => `${t("page.alert")} ${p.id}`, need: "read" },
  { path: "wall", view: wall, title: "nav.wall", nav: "nav.wall", need: "read" },
  { path: "wall/:site", view: wall, title: (p) => `${p.site} — ${t("nav.wall")}`, need: "read" },
];

// pageTitle is the document title of a matched route: "<page> — citywatch".
function pageTitle(m) {
  const title = typeof m.route.title === "function" ? m.route.title(m.params) : t(m.route.title);
  return `${title} — citywatch`;
}

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
    document.title = `${t("page.not_found")} — citywatch`;
    replace(main, el("h1", {}, t("page.not_found")), el("p", {}, t("page.not_found_text"), " ", el("a", { href: "#/" }, t("page.to_overview"))));
    return;
  }
  document.title = pageTitle(m);
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
    el("li", {}, el("a", { href: `#/${r.path}`, "data-path": r.path }, t(r.nav))))));
}

// renderSettings fills the header's settings menu: the UI language and the opt-in alert notifications.
function renderSettings() {
  const langSel = el("select", { id: "opt-lang" }, Object.entries(LANGS).map(([code, name]) =>
    el("option", { value: code, selected: code === currentLang(), lang: code }, name)));
  langSel.addEventListener("change", () => setLang(langSel.value));
  replace(document.getElementById("settings-body"),
    el("div", { class: "opt" }, el("label", { for: "opt-lang" }, t("settings.language")), langSel),
    notifyControls());
  document.getElementById("settings-label").textContent = t("settings.title");
}

// LIVE_TEXT says the live state in words (the dot's colour only reinforces it).
const LIVE_TEXT = {
  live: () => t("live.live"),
  stale: (s) => t("live.stale", { time: hhmmss(s.dataAt) }),
  // A page whose stream a newer page of the same user took does not retry: it must not say "retrying".
  disconnected: (s) => t(s.cause === "evicted" ? "live.evicted" : "live.disconnected"),
  connecting: () => t("live.connecting"),
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
    live.title = s.cause === "evicted" ? t("live.evicted_why") : s.error || "";
  });
}

async function boot() {
  let me;
  try {
    // The texts and who is signed in load together; the live stream opens at once, on every page.
    [me] = await Promise.all([get("/api/me"), loadI18n().catch((e) => console.error(e))]);
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
  document.getElementById("who").textContent = `${me.user} (${tOr(`role.${me.role}`, me.role.replace("_", " "))})`;
  document.querySelector(".skip").textContent = t("page.skip");
  const logout = document.getElementById("logout");
  // A server with anonymous read access (the demo) answers /api/me without a session: offer to sign in.
  const anonymous = me.user === "anonymous" && !me.csrf_token;
  logout.textContent = anonymous ? t("auth.sign_in") : t("auth.sign_out");
  logout.addEventListener("click", async () => {
    if (!anonymous) {
      try { await post("/api/logout"); } catch { /* the session is gone either way */ }
    }
    toLogin();
  });
  renderNav();
  renderSettings();
  renderLive();
  startLive();
  addEventListener("hashchange", route);
  route();
}

boot();
