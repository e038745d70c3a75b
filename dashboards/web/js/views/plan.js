// Site plan: the site's floor-plan image with its devices, cameras and ward rooms placed on it. Markers show
// live state with an icon and words (firing critical/warning, camera down, device silent; a room's fever,
// missed round, occupant by case id or vacancy, see wardplan.js), not colour alone.
// Who may change the plan (admins; health staff on their sites) uploads the image and places markers by
// dragging them (or with the arrow keys); every change is saved at once, audited by the server.

import { el, replace, refill, errorBox, deviceSite, deviceName, siteHref, announce } from "../dom.js";
import { subscribe, pageState } from "../live.js";
import { get, api } from "../api.js";
import { t } from "../i18n.js";
import { onTick } from "../clock.js";
import { deviceFreshness } from "../freshness.js";
import { markerState } from "../sitestatus.js";
import { at } from "../citymap.js";
import { roomState } from "../wardplan.js";

const ICON = { critical: "⚠", warning: "▲", down: "✕", unknown: "?", ok: "●", vacant: "○" };
const KIND_ICON = { device: "◉", camera: "▣", room: "⌂" };
const STATE_TEXT = { critical: "plan.state.critical", warning: "plan.state.warning", down: "plan.state.down", unknown: "plan.state.unknown", ok: "plan.state.ok", vacant: "plan.state.vacant" };
const ROOM_REFRESH_MS = 30000; // a room's round state comes with the plan; its alerts are live
const clamp = (v) => Math.max(0, Math.min(1, v));
const round = (v) => Math.round(v * 1000) / 1000;

// planCSS loads the plans' and the map's styles once.
function planCSS() {
  if (document.getElementById("plan-css")) return;
  document.head.append(el("link", { id: "plan-css", rel: "stylesheet", href: "/ui/plan.css" }));
}

// uploadImage sends the file as the request body (the server sniffs its type); api() sends JSON only.
async function uploadImage(site, file, csrf) {
  const res = await fetch(`/api/plans/${encodeURIComponent(site)}/image`, { method: "PUT", body: file, credentials: "same-origin",
    headers: { "X-CSRF-Token": csrf || "", "Content-Type": file.type || "application/octet-stream", Accept: "application/json" } });
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new Error((data && data.error) || `HTTP ${res.status}`);
  return data;
}

// render draws the plan of params.site.
export function render(root, params, ctx) {
  planCSS();
  const site = params.site;
  const canEdit = ctx.can("ward");
  const status = el("p", { class: "small", role: "status" });
  const stage = el("div", { class: "plan-stage" });
  const legend = el("div");
  const unplaced = el("div");
  replace(root, el("h1", {}, t("plan.title", { site })),
    el("p", {}, el("a", { href: siteHref(site) }, t("plan.to_site", { site }))),
    canEdit ? uploadForm() : null, status,
    el("section", { "aria-labelledby": "plan-h" }, el("h2", { id: "plan-h", class: "sr-only" }, t("plan.heading")), stage),
    el("section", { "aria-labelledby": "plan-legend-h" }, el("h2", { id: "plan-legend-h" }, t("plan.on_plan")), legend),
    canEdit ? el("section", { "aria-labelledby": "plan-unplaced-h" }, el("h2", { id: "plan-unplaced-h" }, t("plan.unplaced")), unplaced) : null);

  let plan = null, devices = null, cameras = null, alerts = null;
  const markers = new Map(); // "kind/id" → { m, node }
  const ctl = new AbortController();

  function uploadForm() {
    const input = el("input", { type: "file", id: "plan-file", accept: "image/png,image/jpeg,image/webp" });
    const form = el("form", { class: "plan-upload", onsubmit: async (e) => {
      e.preventDefault();
      if (!input.files.length) { status.textContent = t("plan.choose_file"); return; }
      status.textContent = t("plan.uploading");
      try {
        await uploadImage(site, input.files[0], ctx.me.csrf_token);
        status.textContent = t("plan.uploaded");
        announce(t("plan.uploaded"));
        await load();
      } catch (err) {
        status.textContent = t("plan.upload_failed", { error: err.message });
      }
    } }, el("label", { for: "plan-file" }, t("plan.file_label")), " ", input, " ", el("button", { type: "submit", class: "small" }, t("plan.upload")));
    return form;
  }

  const live = () => ({ site, devices: devices || [], cameras: cameras || [], alerts: alerts || [],
    silent: (d) => deviceFreshness(d, pageState()).silent });
  const nameOf = (m) => {
    if (m.kind === "room") return t("plan.room", { name: m.room?.name || m.id });
    if (m.kind === "camera") return (cameras || []).find((c) => c.id === m.id)?.name || m.id;
    const d = (devices || []).find((x) => x.id === m.id);
    return d ? deviceName(d) : m.id;
  };

  async function save(m) {
    try {
      await api(`/api/plans/${encodeURIComponent(site)}/markers/${m.kind}/${encodeURIComponent(m.id)}`, { method: "PUT", body: { x: m.x, y: m.y } });
      status.textContent = t("plan.saved", { name: nameOf(m) });
    } catch (err) {
      status.textContent = t("plan.save_failed", { error: err.message });
      load(); // show what is stored, not the refused position
    }
  }

  async function remove(m) {
    try {
      await api(`/api/plans/${encodeURIComponent(site)}/markers/${m.kind}/${encodeURIComponent(m.id)}`, { method: "DELETE" });
      if (m.kind === "room") plan.unplaced_rooms.push(m.room);
      plan.markers = plan.markers.filter((x) => !(x.kind === m.kind && x.id === m.id));
      drawStage();
    } catch (err) {
      status.textContent = t("plan.save_failed", { error: err.message });
    }
  }

  // place puts an unplaced item in the middle of the plan, to be dragged from there.
  function place(kind, id) {
    const m = { kind, id, x: 0.5, y: 0.5 };
    if (kind === "room") {
      m.room = plan.unplaced_rooms.find((r) => r.id === id);
      plan.unplaced_rooms = plan.unplaced_rooms.filter((r) => r.id !== id);
    }
    plan.markers.push(m);
    drawStage();
    save(m);
    markers.get(`${kind}/${id}`)?.node.focus();
  }

  // draggable lets the marker be moved by pointer and by arrow keys; the position is saved when the move ends.
  function draggable(node, m, img) {
    let dragging = false;
    const move = (e) => {
      const r = img.getBoundingClientRect();
      m.x = round(clamp((e.clientX - r.left) / r.width));
      m.y = round(clamp((e.clientY - r.top) / r.height));
      node.style.left = `${m.x * 100}%`;
      node.style.top = `${m.y * 100}%`;
    };
    node.addEventListener("pointerdown", (e) => { dragging = true; node.setPointerCapture(e.pointerId); e.preventDefault(); });
    node.addEventListener("pointermove", (e) => { if (dragging) move(e); });
    node.addEventListener("pointerup", (e) => { if (!dragging) return; dragging = false; move(e); save(m); });
    node.addEventListener("pointercancel", () => { dragging = false; });
    node.addEventListener("keydown", (e) => {
      const d = { ArrowLeft: [-0.01, 0], ArrowRight: [0.01, 0], ArrowUp: [0, -0.01], ArrowDown: [0, 0.01] }[e.key];
      if (!d) return;
      e.preventDefault();
      m.x = round(clamp(m.x + d[0]));
      m.y = round(clamp(m.y + d[1]));
      node.style.left = `${m.x * 100}%`;
      node.style.top = `${m.y * 100}%`;
    });
    node.addEventListener("keyup", (e) => { if (e.key.startsWith("Arrow")) save(m); });
  }

  function drawStage() {
    markers.clear();
    if (!plan.image) {
      replace(stage, el("p", { class: "muted" }, canEdit ? t("plan.no_image_edit") : t("plan.no_image")));
      drawLive();
      return;
    }
    const img = el("img", { class: "plan-image", alt: t("plan.image_alt", { site }), width: plan.image.width, height: plan.image.height,
      src: `/api/plans/${encodeURIComponent(site)}/image?v=${encodeURIComponent(plan.image.version)}`, draggable: "false" });
    const layer = el("div", { class: "plan-layer" });
    for (const m of plan.markers) {
      const node = el(canEdit ? "button" : "span", { type: canEdit ? "button" : undefined, class: `plan-marker kind-${m.kind}`,
        "data-kind": m.kind, "data-id": m.id },
        el("span", { class: "marker-icon", "aria-hidden": "true" }), el("span", { class: "marker-text" }));
      at(node, m.x * 100, m.y * 100, "%");
      if (canEdit) draggable(node, m, img);
      markers.set(`${m.kind}/${m.id}`, { m, node });
      layer.append(node);
    }
    replace(stage, el("div", { class: "plan-frame" }, img, layer));
    drawLive();
  }

  // stateOf is a marker's live state: a room's from the ward and the alerts naming it, else the item's.
  const stateOf = (m, lv) => (m.kind === "room" ? roomState(m.room || {}, lv) : markerState(m, lv));

  // drawLive refreshes the markers' state and the lists from the live lists, without moving anything.
  function drawLive() {
    if (!plan) return;
    const lv = live();
    for (const { m, node } of markers.values()) {
      const st = stateOf(m, lv);
      const text = `${nameOf(m)} — ${st.reason}`;
      node.dataset.state = st.state;
      node.className = `plan-marker kind-${m.kind} state-${st.state}`;
      node.querySelector(".marker-icon").textContent = `${KIND_ICON[m.kind]}${st.state === "ok" ? "" : ICON[st.state]}`;
      const label = node.querySelector(".marker-text");
      if (label.textContent !== text) label.textContent = text;
      if (canEdit) node.setAttribute("aria-label", t("plan.marker_label", { text }));
    }
    refill(legend, plan.markers.length ? el("ul", { class: "plan-legend" }, plan.markers.map((m) => {
      const st = stateOf(m, lv);
      return el("li", { "data-kind": m.kind, "data-id": m.id, "data-state": st.state },
        el("span", { class: `badge state-${st.state === "down" ? "offline" : st.state}` }, `${ICON[st.state]} ${t(STATE_TEXT[st.state])}`), " ",
        nameOf(m), ` — ${st.reason}`,
        canEdit ? [" ", el("button", { type: "button", class: "small secondary", onclick: () => remove(m) }, t("plan.remove", { name: nameOf(m) }))] : null);
    })) : el("p", { class: "muted" }, t("plan.none_placed")));
    if (!canEdit || !devices || !cameras) return;
    const placed = new Set(plan.markers.map((m) => `${m.kind}/${m.id}`));
    const items = [...devices.filter((d) => deviceSite(d) === site).map((d) => ({ kind: "device", id: d.id, name: deviceName(d) })),
      ...cameras.filter((c) => c.site === site).map((c) => ({ kind: "camera", id: c.id, name: c.name || c.id }))]
      .filter((i) => !placed.has(`${i.kind}/${i.id}`));
    const placeList = (list) => el("ul", { class: "plan-unplaced" }, list.map((i) =>
      el("li", {}, `${KIND_ICON[i.kind]} ${i.name} `, el("button", { type: "button", class: "small", "data-place": `${i.kind}/${i.id}`,
        onclick: () => place(i.kind, i.id) }, t("plan.place", { name: i.name })))));
    const rooms = (plan.unplaced_rooms || []).map((r) => ({ kind: "room", id: r.id, name: t("plan.room", { name: r.name }) }));
    refill(unplaced, !plan.image ? el("p", { class: "muted" }, t("plan.upload_first")) : [
      items.length ? placeList(items) : el("p", { class: "muted" }, t("plan.all_placed")),
      rooms.length ? [el("h3", {}, t("plan.unplaced_rooms")), placeList(rooms)] : null]);
  }

  // withRooms makes the plan's placed ward rooms markers of kind room (the room rides along for its state).
  function withRooms(pl) {
    pl.markers = [...(pl.markers || []), ...(pl.rooms || []).map((r) => ({ kind: "room", id: r.id, x: r.x, y: r.y, room: r }))];
    pl.unplaced_rooms = pl.unplaced_rooms || [];
    return pl;
  }

  // refreshRooms takes the rooms' round state from a fresh copy of the plan, without moving any marker.
  async function refreshRooms() {
    if (!plan) return;
    try {
      const fresh = await get(`/api/plans/${encodeURIComponent(site)}`, { signal: ctl.signal });
      const byId = new Map([...(fresh.rooms || []), ...(fresh.unplaced_rooms || [])].map((r) => [r.id, r]));
      for (const m of plan.markers) if (m.kind === "room" && byId.has(m.id)) m.room = { ...byId.get(m.id) };
      plan.unplaced_rooms = plan.unplaced_rooms.map((r) => byId.get(r.id) || r);
      drawLive();
    } catch { /* the next refresh tries again; the page keeps what it shows */ }
  }

  async function load() {
    try {
      plan = withRooms(await get(`/api/plans/${encodeURIComponent(site)}`, { signal: ctl.signal }));
      drawStage();
    } catch (err) {
      if (err.name !== "AbortError") replace(stage, errorBox(err));
    }
  }
  load();
  const unsubs = [
    subscribe("devices", (l) => { devices = l; drawLive(); }),
    subscribe("cameras", (l) => { cameras = l; drawLive(); }),
    subscribe("alerts", (l) => { alerts = l; drawLive(); }),
    onTick(drawLive),
  ];
  const roomTimer = setInterval(refreshRooms, ROOM_REFRESH_MS);
  return () => { ctl.abort(); clearInterval(roomTimer); unsubs.forEach((u) => u()); };
}
