// Camera tiles: live video when the user may see video and the browser can play it, otherwise (and whenever
// there is no picture) the camera's state badge and reason.

import { el, replace, badge, cameraHref, fmtBitrate } from "./dom.js";
import { LivePlayer } from "./video.js";

// CameraTile is one camera in a grid; update() takes the camera's latest JSON.
export class CameraTile {
  constructor(cam, ctx, { large = false } = {}) {
    this.id = cam.id;
    this.video = el("video", { muted: true, defaultMuted: true, autoplay: true, playsInline: true, "aria-label": `Live video of ${cam.name || cam.id}` });
    this.overlay = el("div", { class: "overlay", "aria-hidden": "false" });
    this.stateBadge = el("span");
    this.info = el("p", { class: "muted small" });
    this.title = el("a", { href: cameraHref(cam.id) }, cam.name || cam.id);
    this.playerState = "idle";
    this.cam = cam;
    this.root = el("article", { class: `card camera-tile${large ? " large" : ""}`, "data-camera": cam.id },
      el("div", { class: "frame" }, this.video, this.overlay),
      el("h3", {}, this.title, " ", this.stateBadge), this.info);
    this.player = null;
    this.render();
    this.posterTimer = 0;
    if (ctx.can("video")) {
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
    this.root.dataset.player = this.playerState;
    replace(this.stateBadge, badge(c.state));
    const playing = this.playerState === "playing";
    this.overlay.hidden = playing;
    if (!playing) {
      const why = this.playerState === "no-permission" ? "Video is not enabled for your account." :
        this.playerState === "connecting" ? "Connecting to live video…" :
          this.playerWhy || c.reason || "";
      replace(this.overlay, badge(c.state), el("p", {}, c.state === "online" ? why : c.reason || why));
    }
    const bits = [c.site];
    if (c.codec) bits.push(`${c.codec} ${c.width}×${c.height}`, `${(c.fps || 0).toFixed(1)} fps`, fmtBitrate(c.bitrate_bps));
    const tamper = Object.entries(c.analysis?.tamper || {}).filter(([, v]) => v).map(([k]) => k);
    if (tamper.length) bits.push(`tamper: ${tamper.join(", ")}`);
    this.info.textContent = bits.join(" · ");
  }

  refreshPoster() {
    if (this.playerState === "playing" || this.cam.state !== "online") return;
    this.video.poster = `/api/cameras/${encodeURIComponent(this.id)}/snapshot.jpg?t=${Date.now()}`;
  }

  // destroy stops the video.
  destroy() {
    clearInterval(this.posterTimer);
    if (this.player) this.player.stop();
  }
}
