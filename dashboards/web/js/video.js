// Live camera video: fMP4 over a WebSocket into Media Source Extensions, no transcoding.
//
// Protocol of GET /api/cameras/{id}/live (WebSocket): a text message {"type":"init","mime":"video/mp4; codecs=..."},
// then a binary init segment (ftyp+moov), then binary fragments (moof+mdat). A new init message (the camera
// reconnected or changed resolution) starts a new MediaSource. The player keeps the playhead near the live
// edge, trims what is behind it, and reconnects with backoff; onState reports what a tile should show.

const LIVE_LAG = 1.5; // seconds behind the live edge before we jump forward
const KEEP_BEHIND = 20; // seconds of buffer kept behind the playhead
const MAX_QUEUE = 120; // pending fragments before we give up on this connection and resync
const STALL = 10000; // ms without a message before reconnecting
const MAX_BACKOFF = 30000;

// LivePlayer plays one camera's live stream into a <video>.
export class LivePlayer {
  // onState(state, detail): state is "connecting", "playing", "waiting", "unsupported" or "error". gate, when
  // given, says whether connecting is worth it (the camera has a picture); while it says no the player waits
  // without opening connections the server would refuse, until resume().
  constructor(video, cameraId, { onState = () => {}, gate = null, gateWhy = "" } = {}) {
    this.gate = gate;
    this.gateWhy = gateWhy;
    this.parked = false;
    this.video = video;
    this.id = cameraId;
    this.notify = onState;
    this.state = "";
    this.detail = "";
    this.closed = true;
    this.backoff = 1000;
    this.queue = [];
    this.ws = null;
    this.ms = null;
    this.sb = null;
    this.url = "";
    this.retry = 0;
    this.watchdog = 0;
    this.lastMessage = 0;
  }

  // onState reports a state to the owner only when it changes (updateend fires for every fragment).
  onState(state, detail) {
    if (state === this.state && detail === this.detail) return;
    this.state = state;
    this.detail = detail;
    this.notify(state, detail);
  }

  // supported reports whether this browser can play the stream at all.
  static supported() { return typeof MediaSource !== "undefined" && typeof WebSocket !== "undefined"; }

  // start connects; it is idempotent.
  start() {
    if (!this.closed) return;
    this.closed = false;
    if (!LivePlayer.supported()) {
      this.onState("unsupported", "this browser has no Media Source Extensions");
      return;
    }
    this.connect();
    this.watchdog = setInterval(() => this.check(), 2000);
  }

  // stop disconnects and releases the media resources; it is idempotent.
  stop() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retry);
    clearInterval(this.watchdog);
    this.disconnect();
    this.resetMedia();
  }

  // resume connects a player that the gate parked, now that it says yes.
  resume() {
    if (this.closed || !this.parked) return;
    this.parked = false;
    this.backoff = 1000;
    clearTimeout(this.retry);
    this.connect();
  }

  connect() {
    if (this.gate && !this.gate()) {
      this.parked = true;
      this.onState("waiting", this.gateWhy);
      return;
    }
    this.onState("connecting", "");
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/api/cameras/${encodeURIComponent(this.id)}/live`);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.lastMessage = Date.now();
    let opened = false;
    ws.onopen = () => { opened = true; };
    ws.onmessage = (ev) => { if (this.ws === ws) this.message(ev.data); };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      // A handshake that never completed is a refusal (no permission, unknown camera, no live view on this
      // server); the browser hides the HTTP status, so say it plainly.
      this.lost(ev.reason || (opened ? "live video interrupted; reconnecting" : "live video unavailable; retrying"));
    };
    ws.onerror = () => {}; // onclose follows with the details we have
  }

  disconnect() {
    const ws = this.ws;
    this.ws = null;
    if (ws) { ws.onmessage = ws.onclose = null; try { ws.close(); } catch { /* already closed */ } }
    this.queue = [];
  }

  lost(why) {
    this.disconnect();
    if (this.closed) return;
    this.onState("waiting", why);
    clearTimeout(this.retry);
    // Backoff with jitter, so the tiles of a site do not retry in step.
    this.retry = setTimeout(() => { if (!this.closed) this.connect(); }, this.backoff * (0.8 + 0.4 * Math.random()));
    this.backoff = Math.min(MAX_BACKOFF, this.backoff * 2);
  }

  message(data) {
    this.lastMessage = Date.now();
    if (typeof data === "string") {
      let msg;
      try { msg = JSON.parse(data); } catch { return; }
      if (msg.type === "init" && msg.mime) this.init(msg.mime);
      else if (msg.type === "error") this.onState("waiting", msg.error || msg.reason || "camera unavailable");
      return;
    }
    if (!this.ms) return; // binary before init: not a stream we understand
    if (this.queue.length >= MAX_QUEUE) { this.lost("video fell behind; resynchronising"); return; }
    this.queue.push(data);
    this.pump();
  }

  init(mime) {
    if (!MediaSource.isTypeSupported(mime)) {
      this.onState("unsupported", `cannot play ${mime}`);
      this.disconnect();
      return;
    }
    this.resetMedia();
    this.queue = [];
    const ms = new MediaSource();
    this.ms = ms;
    ms.addEventListener("sourceopen", () => {
      if (this.ms !== ms) return;
      try {
        const sb = ms.addSourceBuffer(mime);
        sb.mode = "segments";
        sb.addEventListener("updateend", () => this.updated());
        sb.addEventListener("error", () => this.lost("the browser could not decode the stream"));
        this.sb = sb;
        this.pump();
      } catch (e) {
        this.onState("error", e.message);
      }
    }, { once: true });
    this.url = URL.createObjectURL(ms);
    this.video.src = this.url;
  }

  resetMedia() {
    this.sb = null;
    this.ms = null;
    if (this.url) {
      URL.revokeObjectURL(this.url);
      this.url = "";
      this.video.removeAttribute("src");
      this.video.load();
    }
  }

  pump() {
    const sb = this.sb;
    if (!sb || sb.updating || !this.queue.length || !this.ms || this.ms.readyState !== "open") return;
    const next = this.queue.shift();
    try {
      sb.appendBuffer(next);
    } catch (e) {
      if (e.name === "QuotaExceededError") {
        this.queue.unshift(next);
        this.trim(2);
      } else {
        this.lost(`append failed: ${e.message}`);
      }
    }
  }

  updated() {
    const v = this.video;
    const b = v.buffered;
    if (b.length) {
      const end = b.end(b.length - 1);
      if (v.currentTime < b.start(0) || end - v.currentTime > LIVE_LAG) v.currentTime = Math.max(b.start(b.length - 1), end - 0.3);
      if (v.paused) v.play().catch(() => {});
      if (v.readyState >= 2) {
        this.backoff = 1000;
        this.onState("playing", "");
      }
    }
    if (!this.trim(KEEP_BEHIND)) this.pump();
  }

  // trim removes buffered media more than keep seconds behind the playhead; it reports whether it started.
  trim(keep) {
    const sb = this.sb;
    const b = this.video.buffered;
    if (!sb || sb.updating || !b.length) return false;
    const cut = this.video.currentTime - keep;
    if (b.start(0) >= cut - 1) return false;
    try { sb.remove(0, cut); return true; } catch { return false; }
  }

  check() {
    if (this.closed || !this.ws) return;
    if (Date.now() - this.lastMessage > STALL) this.lost("no video for 10 s");
  }
}
