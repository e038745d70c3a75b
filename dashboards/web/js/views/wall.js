// Camera wall: every camera the user may see (optionally one site's) in a grid that fills the screen, laid out
// by count (about square), with a fullscreen button. Live video runs only for tiles that can be seen: a tile
// scrolled out of view or a hidden tab stops its stream (IntersectionObserver, visibilitychange). A camera
// with a privacy mask shows its (masked) snapshot, never the raw live view, unless the user has video_unmasked.

import { el, replace } from "../dom.js";
import { subscribe } from "../live.js";
import { CameraTile } from "../cameratile.js";
import { firingFor } from "../thresholds.js";
import { t } from "../i18n.js";

// columns is the grid width for n tiles: about square, wider than tall.
export function columns(n) { return Math.max(1, Math.ceil(Math.sqrt(n))); }

// render draws the wall; params.site limits it to one site.
export function render(root, params, ctx) {
  const grid = el("div", { class: "camera-wall", "data-wall": "" });
  const full = el("button", { type: "button", class: "small secondary", onclick: () => {
    if (document.fullscreenElement) document.exitFullscreen(); else wall.requestFullscreen?.().catch(() => {});
  } }, t("wall.fullscreen"));
  // The head (title and button) is inside the part that goes fullscreen: there the button takes the wall out of
  // fullscreen again, for screens without an Esc key.
  const wall = el("section", { class: "wall", "aria-labelledby": "wall-h" },
    el("div", { class: "wall-head" }, el("h1", { id: "wall-h" }, params.site ? t("wall.title_site", { site: params.site }) : t("nav.wall")), full), grid);
  replace(root, wall);
  const onFullscreen = () => { full.textContent = document.fullscreenElement === wall ? t("wall.exit_fullscreen") : t("wall.fullscreen"); };
  document.addEventListener("fullscreenchange", onFullscreen);

  const tiles = new Map(); // camera id → CameraTile
  const seen = new Set(); // ids of tiles in view
  const sync = (id) => {
    const tile = tiles.get(id);
    if (!tile) return;
    if (seen.has(id) && !document.hidden) tile.play(); else tile.pause();
  };
  const io = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const id = e.target.dataset.camera;
      if (e.isIntersecting) seen.add(id); else seen.delete(id);
      sync(id);
    }
  });
  const onVisibility = () => { for (const id of tiles.keys()) sync(id); };
  document.addEventListener("visibilitychange", onVisibility);

  let lastAlerts = [];
  const unsubAlerts = subscribe("alerts", (all) => {
    lastAlerts = all;
    for (const [id, tile] of tiles) tile.setAlerts(firingFor(all, { camera: id }));
  });
  const unsub = subscribe("cameras", (all) => {
    const list = all.filter((c) => !params.site || c.site === params.site)
      .sort((a, b) => (a.site || "").localeCompare(b.site || "") || (a.name || a.id).localeCompare(b.name || b.id));
    const ids = new Set(list.map((c) => c.id));
    for (const [id, tile] of tiles) {
      if (ids.has(id)) continue;
      io.unobserve(tile.root);
      tile.destroy();
      tile.root.remove();
      tiles.delete(id);
      seen.delete(id);
    }
    if (list.length) grid.querySelector(":scope > p.muted")?.remove();
    for (const c of list) {
      let tile = tiles.get(c.id);
      if (!tile) {
        const masked = c.privacy_masked && !ctx.can("video_unmasked");
        tile = new CameraTile(c, ctx, { snapshotOnly: masked, startPaused: true }); // until it can be seen
        tile.root.dataset.masked = masked ? "true" : "false";
        tiles.set(c.id, tile);
        io.observe(tile.root);
      }
      tile.update(c);
      tile.setAlerts(firingFor(lastAlerts, { camera: c.id }));
      grid.append(tile.root); // in order; moves existing tiles without recreating them
    }
    grid.style.setProperty("--wall-cols", String(columns(list.length)));
    grid.dataset.count = String(list.length);
    if (!list.length) replace(grid, el("p", { class: "muted" }, t("wall.empty")));
  });
  return () => {
    unsub();
    unsubAlerts();
    io.disconnect();
    document.removeEventListener("visibilitychange", onVisibility);
    document.removeEventListener("fullscreenchange", onFullscreen);
    if (document.fullscreenElement === wall) document.exitFullscreen().catch(() => {});
    for (const tile of tiles.values()) tile.destroy();
  };
}
