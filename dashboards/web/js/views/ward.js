// Ward pages: the list of sites with a ward, and one site's ward — rooms and occupants (case ids; names only for
// the site's health staff and admins), today's rounds (done, missing, febrile), a nurse's manual reading, check-in
// and check-out, and the daily report and FHIR export. Every form is one column on a phone.

import { get, post, api } from "../api.js";
import { el, replace, errorBox, announce } from "../dom.js";
import { t } from "../i18n.js";

function ensureStyles() {
  if (document.getElementById("ward-css")) return;
  document.head.append(el("link", { id: "ward-css", rel: "stylesheet", href: "/ui/ward.css" }));
}

const enc = encodeURIComponent;

// roundState names a round row's state (done, missing, pending) in the user's language.
function roundState(state) {
  return ["done", "missing", "pending"].includes(state) ? t(`ward.round.${state}`) : state;
}

// ROOM_BATCH is how many room cards are drawn before the first paint.
const ROOM_BATCH = 60;

// render draws the list of sites (no :site) or one site's ward.
export function render(root, params, ctx) {
  ensureStyles();
  if (!params.site) return renderSites(root);
  return renderWard(root, params.site, ctx);
}

function renderSites(root) {
  replace(root, el("h1", {}, t("ward.title")), el("p", { class: "muted" }, t("page.loading")));
  get("/api/ward").then((data) => {
    const sites = data.sites || [];
    replace(root, el("h1", {}, t("ward.title")), sites.length === 0
      ? el("p", {}, t("ward.no_sites", { path: "#/ward/<site>" }))
      : el("ul", {}, sites.map((s) => el("li", {}, el("a", { href: `#/ward/${enc(s.site)}` }, t("ward.site_rooms", { site: s.site, n: s.rooms }))))));
  }).catch((e) => replace(root, el("h1", {}, t("ward.title")), errorBox(e)));
}

function renderWard(root, site, ctx) {
  const canWard = ctx.can("ward");
  const status = el("p", { class: "muted", "aria-live": "polite" });
  const roundsBox = el("section", { "aria-labelledby": "rounds-h" });
  const roomsBox = el("div", { class: "ward-rooms" }, el("p", { class: "muted" }, t("page.loading")));
  const formsBox = el("section", {});
  const base = `/api/ward/${enc(site)}`;
  replace(root,
    el("nav", { class: "crumbs", "aria-label": t("ward.breadcrumb") }, el("a", { href: "#/ward" }, t("ward.title")), " › ", site),
    el("h1", {}, t("ward.title_site", { site })),
    el("p", {}, el("a", { href: `${base}/report?format=html`, target: "_blank", rel: "noopener" }, t("ward.report_html")), " · ",
      el("a", { href: `${base}/report?format=csv` }, t("ward.report_csv")), " · ", el("a", { href: `${base}/report?format=pdf` }, t("ward.report_pdf")), " · ", el("a", { href: `${base}/fhir` }, t("ward.fhir"))),
    status, roundsBox, el("h2", {}, t("ward.rooms")), roomsBox, formsBox);
  let stopped = false;

  const say = (msg) => { status.textContent = msg; announce(msg); };

  // load draws the rooms and the rounds. Showing personal fields is an audited view of the records, so only
  // load (on open and after a change) reads the rooms; the timer refreshes the rounds alone.
  let ward = null;
  async function load() {
    let rounds;
    try {
      [ward, rounds] = await Promise.all([get(base), get(`${base}/rounds`)]);
    } catch (e) {
      replace(roomsBox, errorBox(e));
      return;
    }
    if (stopped) return;
    drawRounds(rounds, ward);
    drawForms(ward);
    drawRooms(ward);
  }

  async function refreshRounds() {
    if (!ward) return;
    try {
      const rounds = await get(`${base}/rounds`);
      if (!stopped) drawRounds(rounds, ward);
    } catch (e) { say(t("ward.rounds_not_refreshed", { error: e.message })); }
  }

  function drawRounds(data, ward) {
    const rounds = data.rounds || [];
    replace(roundsBox, el("h2", { id: "rounds-h" }, t("ward.rounds_today", { zone: ward.time_zone })),
      rounds.length === 0 ? el("p", { class: "muted" }, t("ward.no_rounds")) :
        rounds.map((r) => el("details", { open: r.missing > 0 || r.pending > 0, "data-round": r.label },
          el("summary", {}, t("ward.round_summary", { time: r.label.slice(11), done: r.done, missing: r.missing, pending: r.pending, febrile: r.febrile })),
          // A scrollable table is reachable by keyboard (tabindex 0) and named for screen readers.
          el("div", { class: "ward-table", tabindex: "0", role: "region", "aria-label": t("ward.round_table", { time: r.label.slice(11) }) },
            el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, t("ward.col.room")), el("th", {}, t("ward.col.case")), el("th", {}, t("ward.col.state")), el("th", {}, t("ward.col.reading")))),
            el("tbody", {}, r.rows.map((row) => {
              const res = row.result;
              const value = res.reading?.value.toFixed(1);
              const reading = !res.reading ? "" : res.reading.manual ? t("ward.reading_manual", { value, by: res.reading.by }) : t("ward.reading", { value });
              return el("tr", { "data-case": row.case_id, "data-state": res.state },
                el("td", {}, row.room), el("td", { class: "case" }, row.case_id),
                el("td", {}, el("span", { class: `round-state ${res.state}` }, roundState(res.state)),
                  res.febrile ? el("span", { class: "round-state febrile" }, " ", t("ward.febrile")) : null),
                el("td", {}, reading, res.state === "missing" && canWard ? lateForm(row, r) : null));
            })))))));
  }

  // lateForm enters a missed round's temperature afterwards, for that round.
  function lateForm(row, round) {
    const input = el("input", { type: "number", name: "value", step: "0.1", min: "30", max: "45", inputmode: "decimal", required: true,
      "aria-label": t("ward.late_label", { case: row.case_id, time: round.label.slice(11) }) });
    const form = el("form", { class: "ward-inline", "data-late": row.case_id }, input, el("button", { type: "submit" }, t("ward.enter")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await post(`${base}/occupancies/${row.occupancy_id}/readings`, { value: Number(input.value), round: round.round });
        say(t("ward.entered_round", { value: input.value, case: row.case_id, time: round.label.slice(11) }));
        load();
      } catch (e) { say(t("ward.not_saved", { error: e.message })); }
    });
    return form;
  }

  // drawRooms draws the first room cards at once and the rest in the next task: a 500-room hotel's cards (with
  // an admin's three forms each) would otherwise hold the first paint of the rounds above them. Off-screen
  // cards are not laid out until scrolled to (content-visibility in ward.css). A newer draw cancels an older
  // one's rest.
  let drawGen = 0;
  function drawRooms(ward) {
    const rooms = ward.rooms || [];
    const gen = ++drawGen;
    if (rooms.length === 0) {
      replace(roomsBox, el("p", { class: "muted" }, t("ward.no_rooms")));
      return;
    }
    replace(roomsBox, rooms.slice(0, ROOM_BATCH).map(roomCard));
    if (rooms.length <= ROOM_BATCH) return;
    // The rest in the next task (not a frame: headless and background tabs run few frames), after a paint.
    setTimeout(() => {
      if (!stopped && gen === drawGen) roomsBox.append(...rooms.slice(ROOM_BATCH).map(roomCard));
    }, 0);
  }

  function roomCard(r) {
    const o = r.occupancy;
    const b = r.bindings || {};
    const devices = [...(b.wearables || []), ...(b.sensors || [])].join(", ") || t("ward.none");
    return el("article", { class: `card ward-room${o ? "" : " vacant"}`, "data-room": r.name },
      el("h3", {}, t("ward.room", { room: r.name }), r.floor ? ` · ${t("ward.floor", { floor: r.floor })}` : ""),
      o ? el("p", {}, el("span", { class: "case" }, t("ward.case", { case: o.case_id })),
        o.personal ? ` — ${o.personal.name}${o.personal.contact ? ` (${o.personal.contact})` : ""}` : "",
        el("br"), el("span", { class: "muted small" }, t("ward.until", { date: o.planned_end.slice(0, 10) })))
        : el("p", { class: "muted" }, t("ward.vacant")),
      el("p", { class: "muted small" }, t("ward.devices", { devices }), b.camera ? ` · ${t("ward.door", { camera: b.camera, zone: b.zone })}` : ""),
      o && canWard ? readingForm(o) : null,
      o && canWard ? checkoutForm(o) : null,
      canWard ? bindingsForm(r) : null);
  }

  function readingForm(o) {
    const input = el("input", { type: "number", name: "value", step: "0.1", min: "30", max: "45", inputmode: "decimal", required: true,
      "aria-label": t("ward.temp_of", { case: o.case_id }) });
    const form = el("form", { class: "ward-inline", "data-reading": o.case_id }, el("label", {}, "°C ", input),
      el("button", { type: "submit" }, t("ward.enter_reading")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await post(`${base}/occupancies/${o.id}/readings`, { value: Number(input.value) });
        say(t("ward.entered", { value: input.value, case: o.case_id }));
        load();
      } catch (e) { say(t("ward.not_saved", { error: e.message })); }
    });
    return form;
  }

  function bindingsForm(r) {
    const b = r.bindings || {};
    const list = (v) => v.split(",").map((x) => x.trim()).filter(Boolean);
    const wear = el("input", { name: "wearables", value: (b.wearables || []).join(", "), "aria-label": t("ward.wearables_of", { room: r.name }) });
    const sensors = el("input", { name: "sensors", value: (b.sensors || []).join(", "), "aria-label": t("ward.sensors_of", { room: r.name }) });
    const cam = el("input", { name: "camera", value: b.camera || "", "aria-label": t("ward.camera_of", { room: r.name }) });
    const zone = el("input", { name: "zone", value: b.zone || "", "aria-label": t("ward.zone_of", { room: r.name }) });
    const form = el("form", { class: "ward-form", "data-bindings": r.name },
      el("label", {}, t("ward.wearables"), wear), el("label", {}, t("ward.sensors"), sensors),
      el("label", {}, t("ward.door_camera"), cam), el("label", {}, t("ward.door_zone"), zone), el("button", { type: "submit", class: "secondary" }, t("ward.save_bindings")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await api(`${base}/rooms/${r.id}/bindings`, { method: "PUT", body: { wearables: list(wear.value), sensors: list(sensors.value),
          camera: cam.value.trim(), zone: cam.value.trim() ? (zone.value.trim() || "door") : "" } });
        say(t("ward.bindings_saved", { room: r.name }));
        load();
      } catch (e) { say(t("ward.not_saved", { error: e.message })); }
    });
    return el("details", {}, el("summary", {}, t("ward.bindings")), form);
  }

  function checkoutForm(o) {
    const sel = el("select", { name: "status", "aria-label": t("ward.checkout_of", { case: o.case_id }) },
      ["released", "transferred", "hospitalised"].map((s) => el("option", { value: s }, t(`ward.status.${s}`))));
    const form = el("form", { class: "ward-inline", "data-checkout": o.case_id }, sel, el("button", { type: "submit", class: "secondary" }, t("ward.checkout")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const status = t(`ward.status.${sel.value}`);
      if (!confirm(t("ward.checkout_confirm", { case: o.case_id, status }))) return;
      try {
        await post(`${base}/occupancies/${o.id}/status`, { status: sel.value });
        say(t("ward.checked_out", { case: o.case_id, status }));
        load();
      } catch (e) { say(t("ward.not_saved", { error: e.message })); }
    });
    return form;
  }

  function drawForms(ward) {
    if (!canWard) { replace(formsBox); return; }
    const free = (ward.rooms || []).filter((r) => !r.occupancy);
    const field = (label, input) => el("label", {}, label, input);
    const room = el("select", { name: "room_id", required: true }, free.map((r) => el("option", { value: r.id }, r.name)));
    const caseID = el("input", { name: "case_id", placeholder: t("ward.case_generated"), pattern: "[A-Za-z0-9.\\-]{1,64}" });
    const name = el("input", { name: "name", autocomplete: "off" });
    const contact = el("input", { name: "contact", autocomplete: "off", inputmode: "tel" });
    const end = el("input", { name: "planned_end", type: "date" });
    const checkin = el("form", { class: "ward-form", id: "checkin" },
      field(t("ward.f.room"), room), field(t("ward.f.case_id"), caseID), field(t("ward.f.name"), name), field(t("ward.f.contact"), contact),
      field(t("ward.f.planned_end"), end), el("button", { type: "submit", disabled: free.length === 0 }, t("ward.checkin")));
    checkin.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = { room_id: Number(room.value), case_id: caseID.value, name: name.value, contact: contact.value };
      if (end.value) body.planned_end = new Date(`${end.value}T12:00:00Z`).toISOString();
      try {
        const o = await post(`${base}/checkin`, body);
        say(t("ward.checked_in", { case: o.case_id, room: o.room }));
        load();
      } catch (e) { say(t("ward.not_checked_in", { error: e.message })); }
    });
    const rname = el("input", { name: "name", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}" });
    const floor = el("input", { name: "floor" });
    const wear = el("input", { name: "wearables", placeholder: "wearable-001, …" });
    const sensors = el("input", { name: "sensors", placeholder: "room-001, …" });
    const cam = el("input", { name: "camera", placeholder: t("ward.camera_id") });
    const zone = el("input", { name: "zone", placeholder: "door" });
    const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
    const addRoom = el("form", { class: "ward-form", id: "add-room" },
      field(t("ward.f.room_name"), rname), field(t("ward.f.floor"), floor), field(t("ward.wearables"), wear), field(t("ward.sensors"), sensors),
      field(t("ward.door_camera"), cam), field(t("ward.door_zone"), zone), el("button", { type: "submit" }, t("ward.add_room_submit")));
    addRoom.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await api(`${base}/rooms`, { method: "POST", body: { name: rname.value, floor: floor.value,
          bindings: { wearables: list(wear.value), sensors: list(sensors.value), camera: cam.value, zone: cam.value ? (zone.value || "door") : "" } } });
        say(t("ward.room_added", { room: rname.value }));
        load();
      } catch (e) { say(t("ward.not_added", { error: e.message })); }
    });
    replace(formsBox, el("h2", {}, t("ward.checkin")), checkin, el("details", {}, el("summary", {}, t("ward.add_room")), addRoom));
  }

  load();
  const timer = setInterval(refreshRounds, 30000);
  return () => { stopped = true; clearInterval(timer); };
}
