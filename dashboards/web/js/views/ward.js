// Ward pages: the list of sites with a ward, and one site's ward — rooms and occupants (case ids; names only for
// the site's health staff and admins), today's rounds (done, missing, febrile), a nurse's manual reading, check-in
// and check-out, and the daily report and FHIR export. Every form is one column on a phone.

import { get, post, api } from "../api.js";
import { el, replace, errorBox, announce } from "../dom.js";

function ensureStyles() {
  if (document.getElementById("ward-css")) return;
  document.head.append(el("link", { id: "ward-css", rel: "stylesheet", href: "/ui/ward.css" }));
}

const enc = encodeURIComponent;

// render draws the list of sites (no :site) or one site's ward.
export function render(root, params, ctx) {
  ensureStyles();
  if (!params.site) return renderSites(root);
  return renderWard(root, params.site, ctx);
}

function renderSites(root) {
  replace(root, el("h1", {}, "Ward"), el("p", { class: "muted" }, "Loading…"));
  get("/api/ward").then((data) => {
    const sites = data.sites || [];
    replace(root, el("h1", {}, "Ward"), sites.length === 0
      ? el("p", {}, "No site has ward rooms yet. Health staff create rooms on a site's ward page: ", el("code", {}, "#/ward/<site>"), ".")
      : el("ul", {}, sites.map((s) => el("li", {}, el("a", { href: `#/ward/${enc(s.site)}` }, s.site), ` — ${s.rooms} rooms`))));
  }).catch((e) => replace(root, el("h1", {}, "Ward"), errorBox(e)));
}

function renderWard(root, site, ctx) {
  const canWard = ctx.can("ward");
  const status = el("p", { class: "muted", "aria-live": "polite" });
  const roundsBox = el("section", { "aria-labelledby": "rounds-h" });
  const roomsBox = el("div", { class: "ward-rooms" }, el("p", { class: "muted" }, "Loading…"));
  const formsBox = el("section", {});
  const base = `/api/ward/${enc(site)}`;
  replace(root,
    el("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, el("a", { href: "#/ward" }, "Ward"), " › ", site),
    el("h1", {}, `Ward — ${site}`),
    el("p", {}, el("a", { href: `${base}/report?format=html`, target: "_blank", rel: "noopener" }, "Daily report (printable)"), " · ",
      el("a", { href: `${base}/report?format=csv` }, "CSV"), " · ", el("a", { href: `${base}/fhir` }, "FHIR R4 export")),
    status, roundsBox, el("h2", {}, "Rooms"), roomsBox, formsBox);
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
    drawRooms(ward);
    drawForms(ward);
  }

  async function refreshRounds() {
    if (!ward) return;
    try {
      const rounds = await get(`${base}/rounds`);
      if (!stopped) drawRounds(rounds, ward);
    } catch (e) { say(`Rounds not refreshed: ${e.message}`); }
  }

  function drawRounds(data, ward) {
    const rounds = data.rounds || [];
    replace(roundsBox, el("h2", { id: "rounds-h" }, `Rounds today (${ward.time_zone})`),
      rounds.length === 0 ? el("p", { class: "muted" }, "No rounds.") :
        rounds.map((r) => el("details", { open: r.missing > 0 || r.pending > 0, "data-round": r.label },
          el("summary", {}, `${r.label.slice(11)} — ${r.done} done, ${r.missing} missing, ${r.pending} pending, ${r.febrile} febrile`),
          el("div", { class: "ward-table" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Room"), el("th", {}, "Case"), el("th", {}, "State"), el("th", {}, "Reading"))),
            el("tbody", {}, r.rows.map((row) => {
              const res = row.result;
              const reading = res.reading ? `${res.reading.value.toFixed(1)} °C${res.reading.manual ? ` (manual, ${res.reading.by})` : ""}` : "";
              return el("tr", { "data-case": row.case_id, "data-state": res.state },
                el("td", {}, row.room), el("td", { class: "case" }, row.case_id),
                el("td", {}, el("span", { class: `round-state ${res.state}` }, res.state),
                  res.febrile ? el("span", { class: "round-state febrile" }, " febrile") : null),
                el("td", {}, reading, res.state === "missing" && canWard ? lateForm(row, r) : null));
            })))))));
  }

  // lateForm enters a missed round's temperature afterwards, for that round.
  function lateForm(row, round) {
    const input = el("input", { type: "number", name: "value", step: "0.1", min: "30", max: "45", inputmode: "decimal", required: true,
      "aria-label": `Temperature of case ${row.case_id} for the ${round.label.slice(11)} round, °C` });
    const form = el("form", { class: "ward-inline", "data-late": row.case_id }, input, el("button", { type: "submit" }, "Enter"));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await post(`${base}/occupancies/${row.occupancy_id}/readings`, { value: Number(input.value), round: round.round });
        say(`Reading ${input.value} °C entered for case ${row.case_id}, round ${round.label.slice(11)}.`);
        load();
      } catch (e) { say(`Not saved: ${e.message}`); }
    });
    return form;
  }

  function drawRooms(ward) {
    const rooms = ward.rooms || [];
    if (rooms.length === 0) {
      replace(roomsBox, el("p", { class: "muted" }, "No rooms yet."));
      return;
    }
    replace(roomsBox, rooms.map((r) => {
      const o = r.occupancy;
      const b = r.bindings || {};
      const devices = [...(b.wearables || []), ...(b.sensors || [])].join(", ") || "none";
      return el("article", { class: `card ward-room${o ? "" : " vacant"}`, "data-room": r.name },
        el("h3", {}, `Room ${r.name}`, r.floor ? ` · floor ${r.floor}` : ""),
        o ? el("p", {}, "Case ", el("span", { class: "case" }, o.case_id),
          o.personal ? ` — ${o.personal.name}${o.personal.contact ? ` (${o.personal.contact})` : ""}` : "",
          el("br"), el("span", { class: "muted small" }, `until ${o.planned_end.slice(0, 10)}`))
          : el("p", { class: "muted" }, "vacant"),
        el("p", { class: "muted small" }, `Devices: ${devices}`, b.camera ? ` · door ${b.camera}/${b.zone}` : ""),
        o && canWard ? readingForm(o) : null,
        o && canWard ? checkoutForm(o) : null,
        canWard ? bindingsForm(r) : null);
    }));
  }

  function readingForm(o) {
    const input = el("input", { type: "number", name: "value", step: "0.1", min: "30", max: "45", inputmode: "decimal", required: true,
      "aria-label": `Temperature of case ${o.case_id}, °C` });
    const form = el("form", { class: "ward-inline", "data-reading": o.case_id }, el("label", {}, "°C ", input),
      el("button", { type: "submit" }, "Enter reading"));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await post(`${base}/occupancies/${o.id}/readings`, { value: Number(input.value) });
        say(`Reading ${input.value} °C entered for case ${o.case_id}.`);
        load();
      } catch (e) { say(`Not saved: ${e.message}`); }
    });
    return form;
  }

  function bindingsForm(r) {
    const b = r.bindings || {};
    const list = (v) => v.split(",").map((x) => x.trim()).filter(Boolean);
    const wear = el("input", { name: "wearables", value: (b.wearables || []).join(", "), "aria-label": `Wearables of room ${r.name}` });
    const sensors = el("input", { name: "sensors", value: (b.sensors || []).join(", "), "aria-label": `Room sensors of room ${r.name}` });
    const cam = el("input", { name: "camera", value: b.camera || "", "aria-label": `Door camera of room ${r.name}` });
    const zone = el("input", { name: "zone", value: b.zone || "", "aria-label": `Door zone of room ${r.name}` });
    const form = el("form", { class: "ward-form", "data-bindings": r.name },
      el("label", {}, "Wearables", wear), el("label", {}, "Room sensors", sensors),
      el("label", {}, "Door camera", cam), el("label", {}, "Door zone", zone), el("button", { type: "submit", class: "secondary" }, "Save bindings"));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await api(`${base}/rooms/${r.id}/bindings`, { method: "PUT", body: { wearables: list(wear.value), sensors: list(sensors.value),
          camera: cam.value.trim(), zone: cam.value.trim() ? (zone.value.trim() || "door") : "" } });
        say(`Bindings of room ${r.name} saved.`);
        load();
      } catch (e) { say(`Not saved: ${e.message}`); }
    });
    return el("details", {}, el("summary", {}, "Bindings"), form);
  }

  function checkoutForm(o) {
    const sel = el("select", { name: "status", "aria-label": `Check out case ${o.case_id}` },
      ["released", "transferred", "hospitalised"].map((s) => el("option", { value: s }, s)));
    const form = el("form", { class: "ward-inline", "data-checkout": o.case_id }, sel, el("button", { type: "submit", class: "secondary" }, "Check out"));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!confirm(`Check out case ${o.case_id} as ${sel.value}?`)) return;
      try {
        await post(`${base}/occupancies/${o.id}/status`, { status: sel.value });
        say(`Case ${o.case_id} checked out (${sel.value}).`);
        load();
      } catch (e) { say(`Not saved: ${e.message}`); }
    });
    return form;
  }

  function drawForms(ward) {
    if (!canWard) { replace(formsBox); return; }
    const free = (ward.rooms || []).filter((r) => !r.occupancy);
    const field = (label, input) => el("label", {}, label, input);
    const room = el("select", { name: "room_id", required: true }, free.map((r) => el("option", { value: r.id }, r.name)));
    const caseID = el("input", { name: "case_id", placeholder: "generated when empty", pattern: "[A-Za-z0-9.\\-]{1,64}" });
    const name = el("input", { name: "name", autocomplete: "off" });
    const contact = el("input", { name: "contact", autocomplete: "off", inputmode: "tel" });
    const end = el("input", { name: "planned_end", type: "date" });
    const checkin = el("form", { class: "ward-form", id: "checkin" },
      field("Room", room), field("Case id", caseID), field("Name (health staff only)", name), field("Contact", contact),
      field("Planned end", end), el("button", { type: "submit", disabled: free.length === 0 }, "Check in"));
    checkin.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = { room_id: Number(room.value), case_id: caseID.value, name: name.value, contact: contact.value };
      if (end.value) body.planned_end = new Date(`${end.value}T12:00:00Z`).toISOString();
      try {
        const o = await post(`${base}/checkin`, body);
        say(`Checked in case ${o.case_id} to room ${o.room}.`);
        load();
      } catch (e) { say(`Not checked in: ${e.message}`); }
    });
    const rname = el("input", { name: "name", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}" });
    const floor = el("input", { name: "floor" });
    const wear = el("input", { name: "wearables", placeholder: "wearable-001, …" });
    const sensors = el("input", { name: "sensors", placeholder: "room-001, …" });
    const cam = el("input", { name: "camera", placeholder: "camera id" });
    const zone = el("input", { name: "zone", placeholder: "door" });
    const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
    const addRoom = el("form", { class: "ward-form", id: "add-room" },
      field("Room name", rname), field("Floor", floor), field("Wearables", wear), field("Room sensors", sensors),
      field("Door camera", cam), field("Door zone", zone), el("button", { type: "submit" }, "Add room"));
    addRoom.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await api(`${base}/rooms`, { method: "POST", body: { name: rname.value, floor: floor.value,
          bindings: { wearables: list(wear.value), sensors: list(sensors.value), camera: cam.value, zone: cam.value ? (zone.value || "door") : "" } } });
        say(`Room ${rname.value} added.`);
        load();
      } catch (e) { say(`Not added: ${e.message}`); }
    });
    replace(formsBox, el("h2", {}, "Check in"), checkin, el("details", {}, el("summary", {}, "Add a room"), addRoom));
  }

  load();
  const timer = setInterval(refreshRounds, 30000);
  return () => { stopped = true; clearInterval(timer); };
}
