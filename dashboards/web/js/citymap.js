// The city map: sites at their configured coordinates over Web-Mercator ("slippy map") tiles, hand-written in
// ~150 lines instead of a map library (Leaflet would add ~40 KiB compressed to the page's code budget). The
// sites are drawn on a plain background first; tiles are an image layer under them, so a map without network
// (or with map.tile_url "") still shows every site. Pan with the buttons, arrow keys or a drag; zoom with +/−.

import { el } from "./dom.js";
import { t } from "./i18n.js";

const TILE = 256;
const MAX_ZOOM = 18;

// project maps WGS 84 degrees to world pixels at zoom z (Web Mercator, as the tile servers cut their tiles).
export function project(lat, lon, z) {
  const s = TILE * 2 ** z;
  const sin = Math.sin((Math.max(-85.05, Math.min(85.05, lat)) * Math.PI) / 180);
  return { x: ((lon + 180) / 360) * s, y: (0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI)) * s };
}

// fitView is the zoom and centre (world pixels) that show every site in a w×h box with a margin; one site
// gets a street-level zoom.
export function fitView(sites, w, h, margin = 40) {
  if (!sites.length) return { z: 2, cx: (TILE * 4) / 2, cy: (TILE * 4) / 2 };
  for (let z = 16; z >= 1; z--) {
    const pts = sites.map((s) => project(s.lat, s.lon, z));
    const xs = pts.map((p) => p.x), ys = pts.map((p) => p.y);
    const minX = Math.min(...xs), maxX = Math.max(...xs), minY = Math.min(...ys), maxY = Math.max(...ys);
    if (maxX - minX <= w - 2 * margin && maxY - minY <= h - 2 * margin) return { z, cx: (minX + maxX) / 2, cy: (minY + maxY) / 2 };
  }
  const p = project(sites[0].lat, sites[0].lon, 1);
  return { z: 1, cx: p.x, cy: p.y };
}

// tileURL fills a {z}/{x}/{y} template, wrapping x around the world.
export function tileURL(tpl, z, x, y) {
  const n = 2 ** z;
  return tpl.replace("{z}", z).replace("{x}", ((x % n) + n) % n).replace("{y}", y);
}

// at positions an absolutely placed node. Through the CSSOM, not a style attribute: the page's CSP forbids
// inline styles. Absolute here too, not only in plan.css: the map may draw before that stylesheet applies.
export function at(node, x, y, unit) {
  node.style.position = "absolute";
  node.style.left = `${x}${unit}`;
  node.style.top = `${y}${unit}`;
  return node;
}

// CityMap draws sites (each { site, name, lat, lon, status, text, href }) in a container.
export class CityMap {
  constructor(cfg) {
    this.cfg = cfg;
    this.tiles = el("div", { class: "map-tiles", "aria-hidden": "true" });
    this.pins = el("ul", { class: "map-pins" });
    this.view = el("div", { class: "map-view", tabindex: "0", role: "region", "aria-label": t("map.label"),
      onkeydown: (e) => this.key(e) }, this.tiles, this.pins);
    // The view's box does not depend on what it holds, even before plan.css applies (the Overview loads it as
    // it opens; the map may come first): else each redraw's tiles grew the view, which drew more tiles, and a
    // map whose tiles failed froze the page.
    this.view.style.position = "relative";
    this.view.style.overflow = "hidden";
    const btn = (label, text, fn) => el("button", { type: "button", class: "small secondary", "aria-label": label, onclick: fn }, text);
    this.note = el("p", { class: "muted small map-note" });
    this.root = el("div", { class: "city-map" }, this.view,
      el("div", { class: "map-controls" }, btn(t("map.zoom_in"), "+", () => this.zoom(1)), btn(t("map.zoom_out"), "−", () => this.zoom(-1)),
        btn(t("map.fit"), t("map.fit_short"), () => this.fit())),
      cfg.attribution && cfg.tile_url ? el("p", { class: "muted small map-attribution" }, cfg.attribution) : null, this.note);
    this.sites = [];
    this.failed = 0;
    this.drag();
    this.resize = new ResizeObserver(() => { if (!this.v) this.fit(); else this.draw(); });
    this.resize.observe(this.view);
  }

  // setSites replaces the sites shown; the view fits them the first time.
  setSites(sites) {
    const first = !this.sites.length && sites.length;
    this.sites = sites;
    if (first || !this.v) this.fit(); else this.draw();
  }

  size() { return { w: this.view.clientWidth || 600, h: this.view.clientHeight || 320 }; }

  fit() {
    const { w, h } = this.size();
    this.v = fitView(this.sites, w, h);
    this.draw();
  }

  zoom(d) {
    const z = Math.max(1, Math.min(MAX_ZOOM, this.v.z + d));
    const f = 2 ** (z - this.v.z);
    this.v = { z, cx: this.v.cx * f, cy: this.v.cy * f };
    this.draw();
  }

  pan(dx, dy) { this.v.cx += dx; this.v.cy += dy; this.draw(); }

  key(e) {
    const step = 64, keys = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (keys[e.key]) { e.preventDefault(); this.pan(...keys[e.key]); }
    else if (e.key === "+" || e.key === "=") this.zoom(1);
    else if (e.key === "-") this.zoom(-1);
  }

  drag() {
    let from = null;
    this.view.addEventListener("pointerdown", (e) => { if (e.target.closest("a")) return; from = { x: e.clientX, y: e.clientY }; this.view.setPointerCapture(e.pointerId); });
    this.view.addEventListener("pointermove", (e) => { if (!from) return; this.pan(from.x - e.clientX, from.y - e.clientY); from = { x: e.clientX, y: e.clientY }; });
    const end = () => { from = null; };
    this.view.addEventListener("pointerup", end);
    this.view.addEventListener("pointercancel", end);
  }

  draw() {
    if (!this.v) return;
    const { w, h } = this.size();
    const { z, cx, cy } = this.v;
    const left = cx - w / 2, top = cy - h / 2;
    const tileKey = `${z}/${left}/${top}/${w}/${h}`;
    if (tileKey !== this.tileKey) { this.tileKey = tileKey; this.drawTiles(z, left, top, w, h); }
    const pinKey = JSON.stringify([tileKey, this.sites]);
    if (pinKey === this.pinKey) return; // a live redraw with nothing new keeps the nodes (and the focus)
    this.pinKey = pinKey;
    this.pins.replaceChildren(...this.sites.map((s) => {
      const p = project(s.lat, s.lon, z);
      return at(el("li", { class: `map-pin status-${s.status}`, "data-site": s.site },
        el("a", { href: s.href, title: s.text }, el("span", { class: "pin-icon", "aria-hidden": "true" }, s.status === "critical" ? "⚠" : s.status === "warning" ? "▲" : "●"),
          el("span", { class: "pin-label" }, s.name || s.site), el("span", { class: "sr-only" }, ` — ${s.text}`))), Math.round(p.x - left), Math.round(p.y - top), "px");
    }));
  }

  drawTiles(z, left, top, w, h) {
    if (!this.cfg.tile_url) {
      this.note.textContent = t("map.no_tiles");
      this.tiles.replaceChildren();
      return;
    }
    const n = 2 ** z;
    const imgs = [];
    for (let ty = Math.floor(top / TILE); ty * TILE < top + h; ty++) {
      if (ty < 0 || ty >= n) continue;
      for (let tx = Math.floor(left / TILE); tx * TILE < left + w; tx++) {
        const img = el("img", { alt: "", src: tileURL(this.cfg.tile_url, z, tx, ty), width: TILE, height: TILE, draggable: "false",
          referrerpolicy: "strict-origin-when-cross-origin" });
        at(img, Math.round(tx * TILE - left), Math.round(ty * TILE - top), "px");
        // A tile that fails is hidden: the plain background and the sites stay.
        img.addEventListener("error", () => { img.hidden = true; this.failed++; this.note.textContent = t("map.tiles_failed"); });
        imgs.push(img);
      }
    }
    this.tiles.replaceChildren(...imgs);
  }

  destroy() { this.resize.disconnect(); }
}
