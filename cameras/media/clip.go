package media

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"

	"citywatch/cameras"
)

// Clip describes an event clip: a fragmented MP4 file with a JSON sidecar of the same name.
type Clip struct {
	// ID is the clip's file name without extension, see ValidClipID.
	ID string `json:"id"`
	// Camera and Site identify the camera.
	Camera string `json:"camera"`
	Site   string `json:"site,omitempty"`
	// Reason is the first event's reason; Events counts the events merged into the clip.
	Reason string `json:"reason"`
	Events int    `json:"events"`
	// EventTime is when the first event happened.
	EventTime time.Time `json:"event_time"`
	// Start and End are the arrival times of the first frame and the end of the last frame. While
	// recording, End is the planned end.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// DurationSeconds is the media duration.
	DurationSeconds float64 `json:"duration_seconds"`
	// Codec is cameras.CodecH264, cameras.CodecH265 or cameras.CodecMJPEG (M-JPEG in MP4, which players
	// such as VLC and ffmpeg play; browsers do not); Width and Height the picture size.
	Codec  string `json:"codec"`
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
	// SizeBytes is the MP4 file's size.
	SizeBytes int64 `json:"size_bytes"`
	// Recording is true while the clip is still being recorded (not yet downloadable).
	Recording bool `json:"recording,omitempty"`
	// PrivacyMask is the fingerprint of the privacy mask burned into the clip ("" for none), see
	// privacymask.Mask.Fingerprint.
	PrivacyMask string `json:"privacy_mask,omitempty"`
}

// clipIDRE is the only clip ID shape accepted: a UTC time and 8 random hex digits, e.g.
// 20260101T120000Z-0a1b2c3d. It can never contain a path separator or dot segment.
var clipIDRE = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$`)

// ValidClipID reports whether id is a well-formed clip ID, safe to use as a file name.
func ValidClipID(id string) bool { return clipIDRE.MatchString(id) }

func newClipID(t time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// maxReasonLen bounds the reason stored in a sidecar.
const maxReasonLen = 200

// cleanReason keeps a reason printable and bounded.
func cleanReason(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxReasonLen {
		s = s[:maxReasonLen]
		for !utf8Valid(s) {
			s = s[:len(s)-1]
		}
	}
	if s == "" {
		s = "event"
	}
	return s
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// recording is a clip being recorded. The camera's mutex guards end, events, waitKey, lastFeed and
// ch's closing; the writer goroutine owns the rest.
type recording struct {
	clip     Clip
	session  uint64
	hasSess  bool
	ch       chan cameras.AccessUnit
	pre      []cameras.AccessUnit
	waitKey  bool
	lastFeed time.Time
	maxEnd   time.Time
	done     chan struct{}
}

// StartClip records an event clip of the camera: PreSeconds from the ring buffer before at, and
// PostSeconds after it. An event while a clip of the camera is recording extends that clip (up to
// MaxClipSeconds) and returns it. The clip is written to <DataDir>/clips/<camera>/<id>.mp4 with a .json
// sidecar when complete; until then Clips lists it with Recording set.
func (m *Media) StartClip(cameraID, reason string, at time.Time) (Clip, error) {
	c := m.camera(cameraID)
	if c == nil {
		return Clip{}, ErrCameraNotFound
	}
	if at.IsZero() {
		at = m.now()
	}
	// Lock order: a camera's mutex before m.mu (ServeLive and Snapshot call m.track under c.mu).
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.rec; r != nil {
		end := at.Add(c.post)
		if end.After(r.maxEnd) {
			end = r.maxEnd
		}
		if end.After(r.clip.End) {
			r.clip.End = end
		}
		r.clip.Events++
		return r.clip, nil
	}
	m.mu.Lock()
	closed, started := m.closed, m.started
	if !closed && started {
		m.wg.Add(1) // for the writer goroutine below
	}
	m.mu.Unlock()
	if closed {
		return Clip{}, ErrClosed
	}
	if !started {
		return Clip{}, ErrNotStarted
	}
	pre := c.ring.since(at.Add(-c.pre))
	start := at.Add(-c.pre)
	if len(pre) > 0 {
		start = pre[0].Time
	}
	maxEnd := start.Add(time.Duration(m.cfg.MaxClipSeconds * float64(time.Second)))
	end := at.Add(c.post)
	if end.After(maxEnd) {
		end = maxEnd
	}
	for i, au := range pre {
		if au.Time.After(end) {
			pre = pre[:i]
			break
		}
	}
	r := &recording{
		clip: Clip{ID: newClipID(at), Camera: c.cfg.ID, Site: c.cfg.Site, Reason: cleanReason(reason), Events: 1,
			EventTime: at, Start: start, End: end, Recording: true},
		ch: make(chan cameras.AccessUnit, m.cfg.ClipQueueFrames), pre: pre, waitKey: len(pre) == 0,
		lastFeed: m.now(), maxEnd: maxEnd, done: make(chan struct{}),
	}
	if len(pre) > 0 {
		r.session, r.hasSess = pre[0].Session, true
		r.clip.Codec = pre[0].Codec
	}
	c.rec = r
	m.met.recordings.Inc()
	go m.record(c, r)
	return r.clip, nil
}

// feedRecording hands au to the camera's recording, ending it when au is past its end or of another
// session. c.mu is held.
func (m *Media) feedRecording(c *camera, au cameras.AccessUnit) {
	r := c.rec
	if r.hasSess && au.Session != r.session || au.Time.After(r.clip.End) {
		c.endRecording()
		return
	}
	if r.waitKey && !au.Keyframe {
		m.met.dropped.WithLabelValues(dropClipWaitKey).Inc()
		return
	}
	select {
	case r.ch <- au:
		r.waitKey = false
		r.session, r.hasSess = au.Session, true
		r.lastFeed = m.now()
	default:
		r.waitKey = true // the writer cannot keep up: resume at the next keyframe
		m.met.dropped.WithLabelValues(dropClipQueue).Inc()
	}
}

// endRecording closes the recording's queue so its writer finishes the file. c.mu is held.
func (c *camera) endRecording() {
	if c.rec != nil {
		close(c.rec.ch)
		c.rec = nil
	}
}

// endIdleRecordings ends recordings whose camera stopped delivering.
func (m *Media) endIdleRecordings() {
	now := m.now()
	for _, c := range m.cameras() {
		c.mu.Lock()
		if c.rec != nil && now.Sub(c.rec.lastFeed) > m.cfg.ClipIdleTimeout {
			m.log.Info("clip ended early: camera delivered nothing", "camera", c.cfg.ID, "clip", c.rec.clip.ID)
			c.endRecording()
		}
		c.mu.Unlock()
	}
}

// record is a recording's writer goroutine: it writes the pre-event frames and then the queue to a
// temporary file, and publishes the clip when the queue is closed.
func (m *Media) record(c *camera, r *recording) {
	defer m.wg.Done()
	defer close(r.done)
	defer m.met.recordings.Dec()
	w, err := m.newClipWriter(c.cfg.ID, r.clip.ID)
	if err == nil {
		w.burn = m.clipBurner(c)
		for _, au := range r.pre {
			if err = w.add(au); err != nil {
				break
			}
		}
	}
	r.pre = nil
	for au := range r.ch {
		if err == nil {
			err = w.add(au)
		}
	}
	if err != nil {
		if w != nil {
			w.abort()
		}
		m.met.clips.WithLabelValues(clipFailed).Inc()
		m.log.Error("clip failed", "camera", c.cfg.ID, "clip", r.clip.ID, "err", err)
		return
	}
	clip := r.clip
	clip.Recording = false
	clip.PrivacyMask = c.cfg.PrivacyMask.Fingerprint() // burned in by finish, which fails otherwise
	ok, err := w.finish(&clip)
	switch {
	case err != nil:
		m.met.clips.WithLabelValues(clipFailed).Inc()
		m.log.Error("clip failed", "camera", c.cfg.ID, "clip", clip.ID, "err", err)
	case !ok:
		m.met.clips.WithLabelValues(clipDiscarded).Inc()
		m.log.Warn("clip discarded: no keyframe recorded", "camera", c.cfg.ID, "clip", clip.ID)
	default:
		m.idxMu.Lock()
		m.index[c.cfg.ID][clip.ID] = clip
		m.idxMu.Unlock()
		m.updateClipBytes()
		m.met.clips.WithLabelValues(clipWritten).Inc()
		m.log.Info("clip written", "camera", c.cfg.ID, "clip", clip.ID, "reason", clip.Reason,
			"duration_s", clip.DurationSeconds, "bytes", clip.SizeBytes)
	}
}

// clipWriter writes one fragmented MP4: the init segment at the first keyframe, then one fragment per GOP
// (or per maxFragSamples frames).
type clipWriter struct {
	dir, id, tmp string
	f            *os.File
	bw           *bufio.Writer
	frag         fragmenter
	started      bool
	buf          []*timedSample
	seq          uint32
	first, last  *timedSample
	codec        string
	w, h         int
	// burn masks the finished temporary file into a new one whose path it returns; nil for no mask.
	burn func(src string, w, h int) (string, error)
}

const maxFragSamples = 120

func (m *Media) newClipWriter(camera, id string) (*clipWriter, error) {
	dir := filepath.Join(m.clipsDir, camera)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("clip directory: %w", err)
	}
	tmp := filepath.Join(dir, "."+id+".mp4.tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, fmt.Errorf("create clip: %w", err)
	}
	return &clipWriter{dir: dir, id: id, tmp: tmp, f: f, bw: bufio.NewWriterSize(f, 256<<10)}, nil
}

func (w *clipWriter) add(au cameras.AccessUnit) error {
	if !w.started {
		if !au.Keyframe {
			return nil
		}
		init, err := initSegment(au)
		if err != nil {
			return err
		}
		if _, err := w.bw.Write(init); err != nil {
			return fmt.Errorf("write clip: %w", err)
		}
		w.started, w.codec, w.w, w.h = true, au.Codec, au.Width, au.Height
		w.frag.reset(au)
	} else if w.frag.sessionChanged(au) {
		return nil // the recording ends at a session change; never mix parameter sets in one file
	}
	if w.cutBefore(au) {
		if err := w.writeFragment(); err != nil {
			return err
		}
	}
	s, err := w.frag.add(au)
	if err != nil {
		return err
	}
	if s != nil {
		w.push(s)
	}
	return nil
}

// cutBefore reports whether the buffered samples end a fragment before au: at every keyframe (a fragment
// is a GOP), or at most maxFragSamples. M-JPEG has only keyframes: its fragments span about a second.
func (w *clipWriter) cutBefore(au cameras.AccessUnit) bool {
	if len(w.buf) >= maxFragSamples {
		return true
	}
	if au.Codec == cameras.CodecMJPEG {
		return len(w.buf) > 0 && au.Time.Sub(w.buf[0].au.Time) >= time.Second
	}
	return au.Keyframe
}

func (w *clipWriter) push(s *timedSample) {
	if w.first == nil {
		w.first = s
	}
	w.last = s
	w.buf = append(w.buf, s)
}

func (w *clipWriter) writeFragment() error {
	if len(w.buf) == 0 {
		return nil
	}
	w.seq++
	b, err := marshalPart(w.seq, w.buf)
	if err != nil {
		return err
	}
	w.buf = w.buf[:0]
	if _, err := w.bw.Write(b); err != nil {
		return fmt.Errorf("write clip: %w", err)
	}
	return nil
}

// finish writes the last fragment, syncs, renames the file into place and writes the sidecar. It returns
// false (and removes the file) when nothing was recorded.
func (w *clipWriter) finish(c *Clip) (bool, error) {
	if s := w.frag.flush(); s != nil {
		w.push(s)
	}
	if w.first == nil {
		w.abort()
		return false, nil
	}
	if err := w.writeFragment(); err != nil {
		w.abort()
		return false, err
	}
	if err := w.bw.Flush(); err != nil {
		w.abort()
		return false, fmt.Errorf("write clip: %w", err)
	}
	if err := w.f.Sync(); err != nil {
		w.abort()
		return false, fmt.Errorf("sync clip: %w", err)
	}
	fi, err := w.f.Stat()
	if err != nil {
		w.abort()
		return false, fmt.Errorf("stat clip: %w", err)
	}
	if err := w.f.Close(); err != nil {
		_ = os.Remove(w.tmp)
		return false, fmt.Errorf("close clip: %w", err)
	}
	if w.burn != nil {
		if err := w.burnMask(&fi); err != nil {
			return false, err
		}
	}
	dur := time.Duration(w.last.decodeTime+uint64(w.last.sample.Duration)-w.first.decodeTime) * time.Second / timescale
	c.Start = w.first.au.Time
	c.End = w.last.au.Time.Add(time.Duration(w.last.sample.Duration) * time.Second / timescale)
	c.DurationSeconds = dur.Seconds()
	c.Codec, c.Width, c.Height, c.SizeBytes = w.codec, w.w, w.h, fi.Size()
	final := filepath.Join(w.dir, w.id+".mp4")
	if err := os.Rename(w.tmp, final); err != nil {
		_ = os.Remove(w.tmp)
		return false, fmt.Errorf("rename clip: %w", err)
	}
	if err := writeSidecar(filepath.Join(w.dir, w.id+".json"), c); err != nil {
		_ = os.Remove(final)
		return false, err
	}
	syncDir(w.dir)
	return true, nil
}

// burnMask replaces the closed temporary file with its masked transcode (H.264) and reports the new file's
// size in fi. On failure nothing is left: an unmasked clip is never published.
func (w *clipWriter) burnMask(fi *os.FileInfo) error {
	masked, err := w.burn(w.tmp, w.w, w.h)
	_ = os.Remove(w.tmp)
	if err != nil {
		return err
	}
	if err := os.Rename(masked, w.tmp); err != nil {
		_ = os.Remove(masked)
		return fmt.Errorf("privacy mask: %w", err)
	}
	st, err := os.Stat(w.tmp)
	if err != nil {
		_ = os.Remove(w.tmp)
		return fmt.Errorf("privacy mask: %w", err)
	}
	*fi = st
	w.codec = cameras.CodecH264
	return nil
}

func (w *clipWriter) abort() {
	_ = w.f.Close()
	_ = os.Remove(w.tmp)
}

// writeSidecar writes the clip's JSON description atomically.
func writeSidecar(path string, c *Clip) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("sidecar: %w", err)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o640); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("sidecar: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("sidecar: %w", err)
	}
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// loadClips indexes the camera's stored clips and removes temporary files and clips without a sidecar
// (left by an interrupted run).
func (m *Media) loadClips(camera string) error {
	dir := filepath.Join(m.clipsDir, camera)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("media: read clips: %w", err)
	}
	idx := map[string]Clip{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		if strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".tmp") {
			_ = os.Remove(filepath.Join(dir, name))
			m.met.clips.WithLabelValues(clipDiscarded).Inc()
			continue
		}
		id, ok := strings.CutSuffix(name, ".json")
		if !ok || !ValidClipID(id) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		var c Clip
		if err == nil {
			err = json.Unmarshal(b, &c)
		}
		fi, serr := os.Stat(filepath.Join(dir, id+".mp4"))
		if err != nil || serr != nil || c.ID != id {
			m.log.Warn("removing unreadable clip", "camera", camera, "clip", id)
			_ = os.Remove(filepath.Join(dir, name))
			_ = os.Remove(filepath.Join(dir, id+".mp4"))
			m.met.clips.WithLabelValues(clipDiscarded).Inc()
			continue
		}
		c.Camera, c.SizeBytes, c.Recording = camera, fi.Size(), false
		idx[id] = c
	}
	for _, e := range entries { // an MP4 whose sidecar was never written is an unfinished clip
		if id, ok := strings.CutSuffix(e.Name(), ".mp4"); ok && ValidClipID(id) {
			if _, indexed := idx[id]; !indexed {
				_ = os.Remove(filepath.Join(dir, e.Name()))
				m.met.clips.WithLabelValues(clipDiscarded).Inc()
			}
		}
	}
	m.idxMu.Lock()
	m.index[camera] = idx
	m.idxMu.Unlock()
	return nil
}

// Clips lists the camera's clips, newest first, including one being recorded (Recording set). It returns
// nil for an unknown camera.
func (m *Media) Clips(cameraID string) []Clip {
	c := m.camera(cameraID)
	if c == nil {
		return nil
	}
	m.idxMu.Lock()
	out := make([]Clip, 0, len(m.index[cameraID])+1)
	for _, cl := range m.index[cameraID] {
		out = append(out, cl)
	}
	m.idxMu.Unlock()
	c.mu.Lock()
	if c.rec != nil {
		out = append(out, c.rec.clip)
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.After(out[j].Start)
		}
		return out[i].ID > out[j].ID
	})
	return out
}

// Clip returns a stored clip and the path of its MP4 file (serve it with http.ServeContent for Range
// requests). Errors: ErrCameraNotFound, ErrClipNotFound (also for a malformed ID), ErrClipInProgress.
func (m *Media) Clip(cameraID, clipID string) (Clip, string, error) {
	c := m.camera(cameraID)
	if c == nil {
		return Clip{}, "", ErrCameraNotFound
	}
	if !ValidClipID(clipID) {
		return Clip{}, "", ErrClipNotFound
	}
	m.idxMu.Lock()
	cl, ok := m.index[cameraID][clipID]
	m.idxMu.Unlock()
	if ok && cl.PrivacyMask != c.cfg.PrivacyMask.Fingerprint() && !c.cfg.PrivacyMask.Empty() {
		return Clip{}, "", ErrClipMasking // recorded before the camera's current mask: never served unmasked
	}
	if ok {
		return cl, filepath.Join(m.clipsDir, cameraID, clipID+".mp4"), nil
	}
	c.mu.Lock()
	rec := c.rec != nil && c.rec.clip.ID == clipID
	c.mu.Unlock()
	if rec {
		return Clip{}, "", ErrClipInProgress
	}
	return Clip{}, "", ErrClipNotFound
}

// retention deletes clips older than Retention, then the oldest clips while the total exceeds
// MaxClipBytes.
func (m *Media) retention() {
	m.retMu.Lock()
	defer m.retMu.Unlock()
	cutoff := m.now().Add(-m.cfg.Retention)
	m.idxMu.Lock()
	var all []Clip
	var total int64
	for _, idx := range m.index {
		for _, c := range idx {
			all = append(all, c)
			total += c.SizeBytes
		}
	}
	m.idxMu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].End.Before(all[j].End) })
	for _, c := range all {
		var result string
		switch {
		case c.End.Before(cutoff):
			result = clipExpired
		case total > m.cfg.MaxClipBytes:
			result = clipEvicted
		default:
			continue
		}
		if err := m.deleteClip(c); err != nil {
			m.log.Error("clip retention", "camera", c.Camera, "clip", c.ID, "err", err)
			continue
		}
		total -= c.SizeBytes
		m.met.clips.WithLabelValues(result).Inc()
		m.log.Info("clip deleted", "camera", c.Camera, "clip", c.ID, "why", result)
	}
	m.updateClipBytes()
}

func (m *Media) deleteClip(c Clip) error {
	dir := filepath.Join(m.clipsDir, c.Camera)
	// The sidecar goes first: a clip without one is removed at the next start.
	if err := os.Remove(filepath.Join(dir, c.ID+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Remove(filepath.Join(dir, c.ID+".mp4")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	m.idxMu.Lock()
	delete(m.index[c.Camera], c.ID)
	m.idxMu.Unlock()
	return nil
}

func (m *Media) updateClipBytes() {
	m.idxMu.Lock()
	defer m.idxMu.Unlock()
	var total int64
	for _, idx := range m.index {
		for _, c := range idx {
			total += c.SizeBytes
		}
	}
	m.met.clipBytes.Set(float64(total))
}
