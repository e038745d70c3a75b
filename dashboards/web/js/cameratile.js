// Camera tiles: live video when the user may see video and the browser can play it, otherwise (and whenever
// there is no picture) the camera's state badge and reason. A camera with a privacy mask opens live video only
// for users with video_unmasked; others see its masked snapshot and a note saying why live is off. The badge
// agrees with the video: while the video plays the camera has a picture, whatever an older status report said.
// Live video connects only while the camera has a picture (online or degraded), so an offline camera's tile
// does not retry a view the server refuses; it resumes when the camera is back. A firing alert about the
// camera marks the tile.

import { el, replace, badge, cameraHref, fmtBitrate } from "./dom.js";
import { LivePlayer } from "./video.js";
import { onStatus } from "./live.js";
import { hhmmss } from "./clock.js";
import { t } from "./i18n.js";

// HAS_PICTURE are the camera states in which the server has video to send.
const HAS_PICTURE = new Set(["online", "degraded"]);

// CameraTile is one camera in a grid; update() takes the camera's latest JSON, setAlerts() the firing alerts
// about it.
export class CameraTile {
  constructor(cam, ctx, { large = false, snapshotOnly = false, startPaused = false, lazyPoster = false } = {}) {
    this.id = cam.id;
    // lazyPoster: snapshots load only between play() and pause() (the tile is near the screen), not for
    // every tile of a long page at once.
    this.lazyPoster = lazyPoster;
    this.nearScreen = !lazyPoster;
    this.video = el("video", { muted: true, defaultMuted: true, autoplay: true, playsInline: true, "aria-label": t("camera.video_of", { name: cam.name || cam.id }) });
    this.overlay = el("div", { class: "overlay", "aria-hidden": "false" });
    this.stateBadge = el("span");
    this.alertNote = el("p", { class: "alert-note", hidden: true });
    this.info = el("p", { class: "muted small cam-info" });
    this.maskNote = el("p", { class: "small mask-note", hidden: true }, "🔒 ", t("camera.masked_no_live"));
    this.title = el("a", { href: cameraHref(cam.id) }, cam.name || cam.id);
    // On a centre (storage.query) a camera comes from an edge's forwarded metrics: its video stays at the edge,
    // which labels.live_url links to when the centre's configuration maps the edge (storage.query.edges).
    this.edge = cam.labels?.edge || "";
    this.liveURL = cam.labels?.live_url || "";
    this.playerState = "idle";
    this.cam = cam;
    this.alerts = [];
    this.root = el("article", { class: `card camera-tile${large ? " large" : ""}`, "data-camera": cam.id },
      el("div", { class: "frame" }, this.video, this.overlay),
      el("h3", {}, this.title, " ", this.stateBadge), this.alertNote, this.maskNote, this.info);
    this.player = null;
    this.page = { state: "connecting" };
    this.offStatus = onStatus((s) => { this.page = s; if (this.root) this.render(); });
    this.render();
    this.posterTimer = 0;
    if (this.edge) {
      this.playerState = "at-edge";
      this.render();
    } else if (ctx.can("video") && (cam.codec === "MJPEG" || snapshotOnly)) {
      // An MJPEG camera has no live view in browsers (the server refuses it): every frame is a JPEG, so the
      // latest snapshot, refreshed every 2 s, is the picture.
      this.playerState = "snapshot";
      this.snapshotWhy = snapshotOnly && cam.codec !== "MJPEG" ? t("wall.masked") : t("camera.mjpeg");
      this.refreshPoster();
      this.posterTimer = setInterval(() => this.refreshPoster(), 2000);
    } else if (ctx.can("video") && cam.privacy_masked && !ctx.can("video_unmasked")) {
      // A camera with a privacy mask: live video is the camera's own, unmasked stream, which the server refuses
      // without video_unmasked; so never ask for it. Its snapshots are masked by the server: they are the picture.
      this.playerState = "masked";
      this.refreshPoster();
      this.posterTimer = setInterval(() => this.refreshPoster(), 10000);
    } else if (ctx.can("video")) {
      // Until (or whenever) live video is not playing, show the latest snapshot behind the state badge.
      this.refreshPoster();
      this.posterTimer = setInterval(() => this.refreshPoster(), 15000);
      this.player = new LivePlayer(this.video, cam.id, {
        onState: (s, why) => { this.playerState = s; this.playerWhy = why; this.render(); },
        gate: () => HAS_PICTURE.has(this.cam.state),
        gateWhy: t("camera.waiting_for_picture"),
      });
      if (!startPaused) this.player.start();
    } else {
      this.playerState = "no-permission";
      this.render();
    }
  }

  update(cam) {
    this.cam = cam;
    if (this.player && HAS_PICTURE.has(cam.state)) this.player.resume();
    this.render();
  }

  // setAlerts marks the tile with the firing alerts about this camera.
  setAlerts(list) {
    const key = list.map((a) => a.id).join(",");
    if (key === this.alertKey) return;
    this.alertKey = key;
    this.alerts = list;
    this.render();
  }

  // shownState is the state the badge says: the video playing proves a picture.
  shownState() {
    const c = this.cam;
    return this.playerState === "playing" && !HAS_PICTURE.has(c.state) ? "online" : c.state;
  }

  render() {
    const c = this.cam;
    const state = this.shownState();
    this.root.dataset.state = state;
    // While the page is not live the state shown is the last one known: grey it and say since when.
    const stale = this.page.state === "stale" || this.page.state === "disconnected";
    this.root.classList.toggle("stale", stale);
    this.root.dataset.fresh = stale ? "stale" : "live";
    this.root.dataset.player = this.playerState;
    if (this.shownBadge !== state) { this.shownBadge = state; replace(this.stateBadge, badge(state)); }
    const sev = this.alerts.some((a) => a.labels?.severity === "critical") ? "critical" : this.alerts.length ? "warning" : "";
    this.root.dataset.alert = sev;
    this.alertNote.hidden = !sev;
    if (sev) replace(this.alertNote, el("span", { class: `badge state-${sev}` }, sev === "critical" ? "⚠ " : "▲ ", t(`severity.${sev}`)), " ",
      this.alerts.map((a) => a.rule).join(", "));
    // An online MJPEG camera's refreshed snapshot is its picture: no overlay over it.
    const playing = this.playerState === "playing" || (this.playerState === "snapshot" && c.state === "online");
    // A masked camera's snapshot is its picture; the note under it says why there is no live video.
    const masked = this.playerState === "masked";
    this.maskNote.hidden = !masked;
    this.overlay.hidden = playing || (masked && HAS_PICTURE.has(c.state));
    if (!playing) {
      const why = this.playerState === "at-edge" ? t("camera.at_edge", { edge: this.edge }) :
        this.playerState === "no-permission" ? t("camera.no_video_permission") :
        this.playerState === "connecting" ? t("camera.connecting") :
        this.playerState === "snapshot" ? this.snapshotWhy :
        masked ? t("camera.masked_no_live") :
          this.playerWhy || c.reason || "";
      const said = HAS_PICTURE.has(c.state) ? why : c.reason || why;
      const key = `${state}\n${said}\n${this.liveURL}`;
      if (this.shownOverlay !== key) {
        this.shownOverlay = key; // status reports come every few seconds: rebuild only what changed
        replace(this.overlay, badge(state), el("p", {}, said),
          this.liveURL ? el("p", {}, el("a", { href: this.liveURL, target: "_blank", rel: "noopener noreferrer" }, t("camera.open_at_edge", { edge: this.edge }))) : null);
      }
    }
    const bits = this.edge ? [c.site, `edge ${this.edge}`] : [c.site];
    // The stream's figures come from the last status report; while the video plays without one, leave them out
    // rather than say "0 fps" under a moving picture.
    if (c.codec && !(playing && !c.fps)) bits.push(`${c.codec} ${c.width}×${c.height}`, `${(c.fps || 0).toFixed(1)} fps`, fmtBitrate(c.bitrate_bps));
    const tamper = Object.entries(c.analysis?.tamper || {}).filter(([, v]) => v).map(([k]) => k);
    if (tamper.length) bits.push(t("camera.tamper", { kinds: tamper.join(", ") }));
    if (stale) bits.unshift(t("live.no_data_since", { time: hhmmss(this.page.dataAt) }));
    const text = bits.join(" · ");
    if (this.info.textContent !== text) this.info.textContent = text;
  }

  refreshPoster() {
    if (!this.nearScreen) return;
    if (this.playerState === "playing" || !HAS_PICTURE.has(this.cam.state)) return;
    this.video.poster = `/api/cameras/${encodeURIComponent(this.id)}/snapshot.jpg?t=${Date.now()}`;
  }

  // pause stops live video while the tile cannot be seen (the wall: scrolled away, tab hidden); play resumes it.
  pause() {
    if (this.lazyPoster) this.nearScreen = false;
    if (!this.player) return;
    this.player.stop();
    this.playerState = "idle";
    this.render();
  }
  play() {
    if (!this.nearScreen) { this.nearScreen = true; this.refreshPoster(); }
    if (this.player) this.player.start();
  }

  // destroy stops the video.
  destroy() {
    this.offStatus();
    clearInterval(this.posterTimer);
    if (this.player) this.player.stop();
  }
}
