// Camera tiles: live video when the user may see video and the browser can play it, otherwise (and whenever
// there is no picture) the camera's state badge and reason.

import { el, replace, badge, cameraHref, fmtBitrate } from "./dom.js";
import { LivePlayer } from "./video.js";
import { onStatus } from "./live.js";
import { hhmmss } from "./clock.js";

// CameraTile is one camera in a grid; update() takes the camera's latest JSON.
export class CameraTile {
  constructor(cam, ctx, { large = false } = {}) {
    this.id = cam.id;
    this.video = el("video", { muted: true, defaultMuted: true, autoplay: true, playsInline: true, "aria-label": `Live video of ${cam.name || cam.id}` });
    this.overlay = el("div", { class: "overlay", "aria-hidden": "false" });
    this.stateBadge = el("span");
    this.info = el("p", { class: "muted small" });
    this.title = el("a", { href: cameraHref(cam.id) }, cam.name || cam.id);
    // On a centre (storage.query) a camera comes from an edge's forwarded metrics: its video stays at the edge,
    // which labels.live_url links to when the centre's configuration maps the edge (storage.query.edges).
    this.edge = cam.labels?.edge || "";
    this.liveURL = cam.labels?.live_url || "";
    this.playerState = "idle";
    this.cam = cam;
    this.root = el("article", { class: `card camera-tile${large ? " large" : ""}`, "data-camera": cam.id },
      el("div", { class: "frame" }, this.video, this.overlay),
      el("h3", {}, this.title, " ", this.stateBadge), this.info);
    this.player = null;
    this.page = { state: "connecting" };
    this.offStatus = onStatus((s) => { this.page = s; if (this.root) this.render(); });
    this.render();
    this.posterTimer = 0;
    if (this.edge) {
      this.playerState = "at-edge";
      this.render();
    } else if (ctx.can("video") && cam.codec === "MJPEG") {
      // An MJPEG camera has no live view in browsers (the server refuses it): every frame is a JPEG, so the
      // latest snapshot, refreshed every 2 s, is the picture.
      this.playerState = "snapshot";
      this.refreshPoster();
      this.posterTimer = setInterval(() => this.refreshPoster(), 2000);
    } else if (ctx.can("video")) {
      // Until (or whenever) live video is not playing, show the latest snapshot behind the state badge.
      this.refreshPoster();
      this.posterTimer = setInterval(() => this.refreshPoster(), 15000);
      this.player = new LivePlayer(this.video, cam.id, { onState: (s, why) => { this.playerState = s; this.playerWhy = why; this.render(); } });
      this.player.start();
    } else {
      this.playerState = "no-permission";
      this.render();
    }
  }

  update(cam) {
    this.cam = cam;
    this.render();
  }

  render() {
    const c = this.cam;
    this.root.dataset.state = c.state;
    // While the page is not live the state shown is the last one known: grey it and say since when.
    const stale = this.page.state === "stale" || this.page.state === "disconnected";
    this.root.classList.toggle("stale", stale);
    this.root.dataset.fresh = stale ? "stale" : "live";
    this.root.dataset.player = this.playerState;
    replace(this.stateBadge, badge(c.state));
    // An online MJPEG camera's refreshed snapshot is its picture: no overlay over it.
    const playing = this.playerState === "playing" || (this.playerState === "snapshot" && c.state === "online");
    this.overlay.hidden = playing;
    if (!playing) {
      const why = this.playerState === "at-edge" ? `Live video is at edge ${this.edge}.` :
        this.playerState === "no-permission" ? "Video is not enabled for your account." :
        this.playerState === "connecting" ? "Connecting to live video…" :
        this.playerState === "snapshot" ? "MJPEG camera: the latest picture, refreshed every 2 s (no live video)." :
          this.playerWhy || c.reason || "";
      replace(this.overlay, badge(c.state), el("p", {}, c.state === "online" ? why : c.reason || why),
        this.liveURL ? el("p", {}, el("a", { href: this.liveURL, target: "_blank", rel: "noopener noreferrer" }, `Open at edge ${this.edge}`)) : null);
    }
    const bits = this.edge ? [c.site, `edge ${this.edge}`] : [c.site];
    if (c.codec) bits.push(`${c.codec} ${c.width}×${c.height}`, `${(c.fps || 0).toFixed(1)} fps`, fmtBitrate(c.bitrate_bps));
    const tamper = Object.entries(c.analysis?.tamper || {}).filter(([, v]) => v).map(([k]) => k);
    if (tamper.length) bits.push(`tamper: ${tamper.join(", ")}`);
    if (stale) bits.unshift(`no data since ${hhmmss(this.page.dataAt)}`);
    this.info.textContent = bits.join(" · ");
  }

  refreshPoster() {
    if (this.playerState === "playing" || this.cam.state !== "online") return;
    this.video.poster = `/api/cameras/${encodeURIComponent(this.id)}/snapshot.jpg?t=${Date.now()}`;
  }

  // destroy stops the video.
  destroy() {
    this.offStatus();
    clearInterval(this.posterTimer);
    if (this.player) this.player.stop();
  }
}
