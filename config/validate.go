package config

import (
	"citywatch/cameras/zone"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/crypto/bcrypt"
)

// Limits enforced by Validate.
const (
	maxMQTTPacket     = 268435455 // the MQTT remaining-length limit
	maxDeadLetterSize = 1_000_000
	maxInflight       = 65535
	maxBatchSize      = 1_000_000
	maxSecretFileSize = 64 << 10
)

var sourceNameRE = regexp.MustCompile(`^[a-z0-9_-]+$`)

// Validate checks every value of c and returns all problems as *Errors (key paths without file or line). Parse
// and Load already call it, with lines. It does not fill derived defaults; fields they fill may be left unset.
func (c *Config) Validate() error {
	s := newErrorSink("")
	c.validate(s, osFS{})
	return s.err()
}

// Complete prepares a Config built in code the way Parse prepares a loaded one: it fills the defaults that
// depend on other keys (broker.enabled, sources' client_id, rules' device_labels, the InfluxDB queue dir), reads
// every *_file secret into its Secret, and validates. It returns *Errors.
func (c *Config) Complete() error {
	c.defaultExposed()
	s := newErrorSink("")
	c.finish(s, processEnv())
	return s.err()
}

// environment is what loading needs from the outside world, so tests and fuzzing can replace it.
type environment struct {
	lookup func(string) (string, bool) // environment variables
	host   string                      // hostname, for default client ids
	fsys   fileOpener                  // files referenced by *_file keys
}

// fileOpener opens files by OS path.
type fileOpener interface {
	Open(name string) (fs.File, error)
}

type osFS struct{}

func (osFS) Open(name string) (fs.File, error) { return os.Open(name) }

func processEnv() environment {
	h, err := os.Hostname()
	if err != nil {
		h = "localhost"
	}
	return environment{lookup: os.LookupEnv, host: h, fsys: osFS{}}
}

// finish fills derived defaults, reads secret files and validates, reporting into s.
func (c *Config) finish(s *errorSink, e environment) {
	c.setDerivedDefaults(e.host)
	c.readSecretFiles(s, e.fsys)
	c.validate(s, e.fsys)
}

// readSecretFiles reads each *_file secret into its Secret field, trimming trailing newlines. Errors name the
// file, never its contents.
func (c *Config) readSecretFiles(s *errorSink, fsys fileOpener) {
	// readList reads file into dst, reporting problems at path; it reports whether it did.
	readList := func(path string, dst *Secret, file string) bool {
		b, err := readSmallFile(fsys, file, maxSecretFileSize)
		if err != nil {
			s.add(path, err.Error())
			return false
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			s.add(path, fmt.Sprintf("file %s is empty", quote(file)))
			return false
		}
		*dst = Secret(v)
		return true
	}
	read := func(path string, dst *Secret, file string) {
		if file != "" {
			readList(path+"_file", dst, file)
		}
	}
	for i := range c.Broker.Users {
		u := &c.Broker.Users[i]
		p := indexPath("broker.users", i)
		read(p+".password_hash", &u.PasswordHash, u.PasswordHashFile)
		read(p+".password", &u.Password, u.PasswordFile)
	}
	for i := range c.Ingest.Sources {
		src := &c.Ingest.Sources[i]
		read(indexPath("ingest.sources", i)+".password", &src.Password, src.PasswordFile)
	}
	read("storage.influx.token", &c.Storage.Influx.Token, c.Storage.Influx.TokenFile)
	c.readRemoteWriteSecrets(read)
	read("storage.query.password", &c.Storage.Query.Password, c.Storage.Query.PasswordFile)
	read("storage.query.bearer_token", &c.Storage.Query.BearerToken, c.Storage.Query.BearerTokenFile)
	for i := range c.Cameras {
		cam := &c.Cameras[i]
		read(indexPath("cameras", i)+".password", &cam.Password, cam.PasswordFile)
	}
	for i := range c.Notify.Receivers {
		r := &c.Notify.Receivers[i]
		p := indexPath("notify.receivers", i)
		read(p+".url", &r.URL, r.URLFile)
		read(p+".zalo_access_token", &r.ZaloAccessToken, r.ZaloAccessTokenFile)
		// Lists and maps of files: re-read from scratch, so Complete stays idempotent.
		r.SecretFileValues = make([]Secret, len(r.SecretFiles))
		for j, file := range r.SecretFiles {
			fp := indexPath(p+".secret_files", j)
			if file == "" {
				s.add(fp, "must not be empty")
				continue
			}
			readList(fp, &r.SecretFileValues[j], file)
		}
		r.HeaderFileValues = nil
		for _, name := range sortedKeys(r.HeaderFiles) {
			var val Secret
			if readList(joinPath(p+".header_files", name), &val, r.HeaderFiles[name]) {
				if r.HeaderFileValues == nil {
					r.HeaderFileValues = map[string]Secret{}
				}
				r.HeaderFileValues[name] = val
			}
		}
	}
	read("auth.admin_token", &c.Auth.AdminToken, c.Auth.AdminTokenFile)
}

func readSmallFile(fsys fileOpener, name string, max int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fileError(name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileError(name, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a file", quote(name))
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fileError(name, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("file %s is larger than %d bytes", quote(name), max)
	}
	return b, nil
}

// fileError describes a file problem by its path and the OS reason, never by content.
func fileError(name string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("file %s does not exist", quote(name))
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("file %s is not readable: permission denied", quote(name))
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("cannot read file %s: %v", quote(name), err)
}

// validator holds the helpers of validate.
type validator struct {
	s    *errorSink
	fsys fileOpener
}

func (v validator) add(path, format string, args ...any) { v.s.add(path, fmt.Sprintf(format, args...)) }

func (v validator) oneOf(path, got string, allowed ...string) {
	for _, a := range allowed {
		if got == a {
			return
		}
	}
	v.add(path, "must be one of %s; got %s", strings.Join(allowed, ", "), quote(got))
}

func (v validator) positive(path string, d Duration) {
	if d <= 0 {
		v.add(path, "must be > 0; got %s", quote(d.String()))
	}
}

func (v validator) file(path, name string) {
	if name == "" {
		return
	}
	f, err := v.fsys.Open(name)
	if err != nil {
		v.s.add(path, fileError(name, err).Error())
		return
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		v.add(path, "%s is a directory, not a file", quote(name))
	}
}

// pair checks that two keys of path are set together.
func (v validator) pair(path, aKey, a, bKey, b string) {
	switch {
	case a != "" && b == "":
		v.add(path+"."+bKey, "is required when %s is set", aKey)
	case a == "" && b != "":
		v.add(path+"."+aKey, "is required when %s is set", bKey)
	}
}

// clientTLS checks the tls section at path of a client (ClientTLSConfig): cert_file and key_file go together,
// and every file named exists.
func (v validator) clientTLS(path string, t ClientTLSConfig) {
	v.pair(path, "cert_file", t.CertFile, "key_file", t.KeyFile)
	v.file(path+".ca_file", t.CAFile)
	v.file(path+".cert_file", t.CertFile)
	v.file(path+".key_file", t.KeyFile)
}

// listen checks a host:port listen address. Port 0 picks a free port.
func (v validator) listen(path, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(path, `must be host:port, e.g. "127.0.0.1:1883" or ":1883"; got %s`, quote(addr))
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		v.add(path, "port must be a number 0-65535; got %s", quote(addr))
		return
	}
	if strings.ContainsAny(host, " /\t") {
		v.add(path, "invalid host in %s", quote(addr))
	}
}

func (v validator) text(path, val string) {
	if !utf8Valid(val) {
		v.add(path, "must be UTF-8 text without control characters; got %s", quote(val))
	}
}

func utf8Valid(s string) bool {
	for _, r := range s {
		if r == unicode.ReplacementChar || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func (c *Config) validate(s *errorSink, fsys fileOpener) {
	v := validator{s: s, fsys: fsys}
	if c.DataDir == "" {
		v.add("data_dir", "must not be empty")
	}
	v.text("edge.name", c.Edge.Name)
	v.text("edge.site", c.Edge.Site)
	v.oneOf("log.level", c.Log.Level, LogLevelDebug, LogLevelInfo, LogLevelWarn, LogLevelError)
	v.oneOf("log.format", c.Log.Format, LogFormatText, LogFormatJSON)
	if c.HTTP.Listen == "" {
		v.add("http.listen", "must not be empty")
	} else {
		v.listen("http.listen", c.HTTP.Listen)
	}
	v.pair("http.tls", "cert_file", c.HTTP.TLS.CertFile, "key_file", c.HTTP.TLS.KeyFile)
	v.file("http.tls.cert_file", c.HTTP.TLS.CertFile)
	v.file("http.tls.key_file", c.HTTP.TLS.KeyFile)
	c.validateHTTPLimits(v)
	c.validateHTTPQuery(v)
	c.validateBroker(v)
	c.validateIngest(v)
	c.validateStorage(v)
	c.validateRemoteWrite(v)
	c.validateStorageQuery(v)
	c.validateCameras(v)
	c.validateMedia(v)
	c.validateAlerts(v)
	c.validateNotify(v)
	c.validateAuth(v)
	c.validateWard(v)
	c.validatePrivacy(v)
	c.validateSites(v)
}

func (c *Config) validateCameras(v validator) {
	seen := map[string]bool{}
	for i := range c.Cameras {
		cam := &c.Cameras[i]
		p := indexPath("cameras", i)
		switch {
		case cam.ID == "":
			v.add(p+".id", "is required")
		case !ValidCameraID(cam.ID):
			v.add(p+".id", "must be %s; got %s", CameraIDRule, quote(cam.ID))
		case seen[cam.ID]:
			v.add(p+".id", "duplicate camera id %s", quote(cam.ID))
		}
		seen[cam.ID] = true
		v.text(p+".name", cam.Name)
		if cam.Site == "" {
			v.add(p+".site", "is required")
		}
		v.text(p+".site", cam.Site)
		for _, k := range sortedKeys(cam.Labels) {
			if !validLabelName(k) || strings.HasPrefix(k, "__") || k == "camera" || k == "site" {
				v.add(p+".labels", "invalid label name %s (camera and site are set by citywatch)", quote(k))
			}
		}
		if cam.URL == "" {
			v.add(p+".url", "is required")
		} else if u, err := url.Parse(cam.URL); err != nil {
			v.add(p+".url", "invalid URL %s", quoteURL(cam.URL))
		} else {
			switch {
			case u.User != nil || queryHasCredentials(u.Query()):
				v.add(p+".url", "must not contain credentials; use username and password (or password_file)")
			case u.Scheme != "rtsp" && u.Scheme != "rtsps":
				v.add(p+".url", "scheme must be rtsp or rtsps; got %s", quote(cam.URL))
			case u.Hostname() == "":
				v.add(p+".url", "must name a host; got %s", quote(cam.URL))
			}
		}
		if cam.Password != "" && cam.Username == "" {
			v.add(p+".username", "is required when a password is set")
		}
		v.oneOf(p+".transport", cam.Transport, TransportAuto, TransportTCP, TransportUDP)
		v.positive(p+".stall_timeout", cam.StallTimeout)
		v.positive(p+".reconnect_min", cam.ReconnectMin)
		v.positive(p+".reconnect_max", cam.ReconnectMax)
		if cam.ReconnectMin > 0 && cam.ReconnectMax > 0 && cam.ReconnectMin > cam.ReconnectMax {
			v.add(p+".reconnect_max", "must be >= reconnect_min (%s); got %s", cam.ReconnectMin, quote(cam.ReconnectMax.String()))
		}
		if cam.Jitter < 0 || cam.Jitter >= 1 {
			v.add(p+".jitter", "must be >= 0 and < 1; got %g", cam.Jitter)
		}
		c.validateCameraHealth(v, p, cam)
		zones := map[string]bool{}
		for j, z := range cam.Zones {
			zp := indexPath(p+".zones", j)
			parsed, err := zone.Parse(z)
			switch {
			case err != nil:
				v.add(zp, "%v; got %s", err, quote(z))
			case zones[parsed.Name]:
				v.add(zp, "duplicate zone name %s", quote(parsed.Name))
			}
			zones[parsed.Name] = true
		}
		if cam.AnalysisFPS <= 0 || cam.AnalysisFPS > 30 {
			v.add(p+".analysis_fps", "must be > 0 and <= 30; got %g", cam.AnalysisFPS)
		}
		v.positive(p+".clip_post", cam.ClipPost)
		if cam.ClipPre < 0 {
			v.add(p+".clip_pre", "must not be negative; got %s", quote(cam.ClipPre.String()))
		}
	}
}

func (c *Config) validateBroker(v validator) {
	b := &c.Broker
	addrs := []struct{ path, addr string }{{"http.listen", c.HTTP.Listen}}
	for _, l := range []struct{ path, addr string }{
		{"broker.listen", b.Listen}, {"broker.websocket_listen", b.WebsocketListen}, {"broker.tls.listen", b.TLS.Listen},
	} {
		if l.addr == "" {
			continue
		}
		v.listen(l.path, l.addr)
		if c.BrokerEnabled() {
			for _, o := range addrs {
				if sameListener(l.addr, o.addr) {
					v.add(l.path, "address %s is also used by %s", quote(l.addr), o.path)
				}
			}
			addrs = append(addrs, l)
		}
	}
	t := b.TLS
	if t.Listen != "" {
		if t.CertFile == "" {
			v.add("broker.tls.cert_file", "is required when listen is set")
		}
		if t.KeyFile == "" {
			v.add("broker.tls.key_file", "is required when listen is set")
		}
	} else if t.CertFile != "" || t.KeyFile != "" || t.ClientCAFile != "" {
		v.add("broker.tls.listen", "is required when cert_file, key_file or client_ca_file is set")
	}
	v.file("broker.tls.cert_file", t.CertFile)
	v.file("broker.tls.key_file", t.KeyFile)
	v.file("broker.tls.client_ca_file", t.ClientCAFile)
	if b.MaxMessageBytes <= 0 || b.MaxMessageBytes > maxMQTTPacket {
		v.add("broker.max_message_bytes", "must be between 1 and %d bytes (the MQTT limit); got %s", maxMQTTPacket, quote(b.MaxMessageBytes.String()))
	}
	seen := map[string]int{}
	for i, u := range b.Users {
		p := indexPath("broker.users", i)
		switch {
		case u.Username == "":
			v.add(p+".username", "is required")
		case strings.ContainsAny(u.Username, "+#/") || !utf8Valid(u.Username):
			v.add(p+".username", `must not contain "+", "#", "/" or control characters; got %s`, quote(u.Username))
		default:
			if j, dup := seen[u.Username]; dup {
				v.add(p+".username", "duplicate username %s (also broker.users[%d])", quote(u.Username), j)
			}
			seen[u.Username] = i
		}
		hasHash := u.PasswordHash != "" || u.PasswordHashFile != ""
		hasPlain := u.Password != "" || u.PasswordFile != ""
		switch {
		case hasHash && hasPlain:
			v.add(p, "set only one of password_hash, password_hash_file, password and password_file")
		case !hasHash && !hasPlain:
			v.add(p, "one of password_hash, password_hash_file, password or password_file is required")
		}
		if u.PasswordHash != "" && !validBcrypt(u.PasswordHash.Value()) {
			key := ".password_hash"
			if u.PasswordHashFile != "" {
				key = ".password_hash_file"
			}
			v.add(p+key, `is not a bcrypt hash ("$2a$", "$2b$" or "$2y$", a cost 04-31, "$" and 53 characters)`)
		}
		for j, f := range u.Publish {
			v.aclFilter(indexPath(p+".publish", j), f)
		}
		for j, f := range u.Subscribe {
			v.aclFilter(indexPath(p+".subscribe", j), f)
		}
	}
}

// sameListener reports whether two listen addresses would collide.
func sameListener(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb || pa == "0" {
		return false
	}
	any := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || any(ha) || any(hb)
}

func (v validator) aclFilter(path, f string) {
	g := strings.ReplaceAll(f, "{username}", "u")
	if strings.ContainsAny(g, "{}") {
		v.add(path, "only the placeholder {username} is replaced; got %s", quote(f))
		return
	}
	if err := CheckTopicFilter(g); err != nil {
		v.add(path, "invalid topic filter %s: %v", quote(f), err)
	}
}

// validBcrypt reports whether h is a well-formed bcrypt hash, without saying anything about h in errors.
func validBcrypt(h string) bool {
	if len(h) != 60 || !(strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$") || strings.HasPrefix(h, "$2y$")) ||
		h[6] != '$' {
		return false
	}
	if cost, err := bcrypt.Cost([]byte(h)); err != nil || cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return false
	}
	for _, r := range h[7:] {
		if !(r == '.' || r == '/' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func (c *Config) validateIngest(v validator) {
	in := &c.Ingest
	if in.MaxPayloadBytes <= 0 || in.MaxPayloadBytes > maxMQTTPacket {
		v.add("ingest.max_payload_bytes", "must be between 1 and %d bytes; got %s", maxMQTTPacket, quote(in.MaxPayloadBytes.String()))
	}
	if in.DeadLetterSize < 0 || in.DeadLetterSize > maxDeadLetterSize {
		v.add("ingest.dead_letter_size", "must be between 0 and %d; got %d", maxDeadLetterSize, in.DeadLetterSize)
	}
	c.validateIngestLimits(v)
	names := map[string]int{}
	clientIDs := map[string]int{}
	for i := range in.Sources {
		p := indexPath("ingest.sources", i)
		src := &in.Sources[i]
		sourceNames.check(v, names, "ingest.sources", i, src.Name)
		if src.ClientID != "" {
			if j, dup := clientIDs[src.ClientID]; dup && in.Sources[j].Name != src.Name {
				v.add(p+".client_id", "duplicate client id %s (also ingest.sources[%d]); the broker would disconnect one of them", quote(src.ClientID), j)
			} else if !dup {
				clientIDs[src.ClientID] = i
			}
			if len(src.ClientID) > 65535 || !utf8Valid(src.ClientID) {
				v.add(p+".client_id", "must be UTF-8 text without control characters, at most 65535 bytes")
			}
		}
		v.source(p, src)
	}
	topics := map[string]int{}
	for i := range in.Rules {
		p := indexPath("ingest.rules", i)
		r := &in.Rules[i]
		if j, dup := topics[r.Topic]; dup && r.Topic != "" {
			v.add(p+".topic", "same topic as ingest.rules[%d]; only the first matching rule applies", j)
		}
		topics[r.Topic] = i
		v.rule(p, r)
	}
}

var tlsSchemes = map[string]bool{"ssl": true, "tls": true, "mqtts": true, "wss": true}

func (v validator) source(p string, src *SourceConfig) {
	scheme := ""
	if src.URL == "" {
		v.add(p+".url", "is required")
	} else if u, err := url.Parse(src.URL); err != nil {
		v.add(p+".url", "invalid URL %s", quoteURL(src.URL))
	} else {
		scheme = u.Scheme
		switch {
		case u.User != nil:
			v.add(p+".url", "must not contain credentials; use username and password (or password_file)")
		case !map[string]bool{"tcp": true, "mqtt": true, "ssl": true, "tls": true, "mqtts": true, "ws": true, "wss": true}[u.Scheme]:
			v.add(p+".url", "scheme must be one of tcp, mqtt, ssl, tls, mqtts, ws, wss; got %s", quote(src.URL))
		case u.Hostname() == "":
			v.add(p+".url", "must name a host; got %s", quote(src.URL))
		case u.Port() == "" && u.Scheme != "ws" && u.Scheme != "wss":
			v.add(p+".url", `must include a port, e.g. "tcp://broker:1883"; got %s`, quote(src.URL))
		case u.Port() != "":
			if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
				v.add(p+".url", "port must be 1-65535; got %s", quote(src.URL))
			}
		}
	}
	if src.Password != "" && src.Username == "" {
		v.add(p+".username", "is required when a password is set")
	}
	if len(src.Topics) == 0 {
		v.add(p+".topics", "must list at least one topic filter")
	}
	seen := map[string]bool{}
	for j, t := range src.Topics {
		tp := indexPath(p+".topics", j)
		switch {
		case strings.HasPrefix(t, "$share/"):
			v.add(tp, `must not start with "$share/"; set shared_group instead`)
		case seen[t]:
			v.add(tp, "duplicate topic filter %s", quote(t))
		default:
			if err := CheckTopicFilter(t); err != nil {
				v.add(tp, "invalid topic filter %s: %v", quote(t), err)
			}
		}
		seen[t] = true
	}
	if g := src.SharedGroup; g != "" && (strings.ContainsAny(g, "/+#") || !utf8Valid(g)) {
		v.add(p+".shared_group", `must not contain "/", "+", "#" or control characters; got %s`, quote(g))
	}
	if src.QoS != 0 && src.QoS != 1 {
		v.add(p+".qos", "must be 0 or 1; got %d", src.QoS)
	}
	if src.MaxInflight < 1 || src.MaxInflight > maxInflight {
		v.add(p+".max_inflight", "must be between 1 and %d; got %d", maxInflight, src.MaxInflight)
	}
	v.positive(p+".reconnect_min", src.ReconnectMin)
	v.positive(p+".reconnect_max", src.ReconnectMax)
	if src.ReconnectMin > 0 && src.ReconnectMax > 0 && src.ReconnectMin > src.ReconnectMax {
		v.add(p+".reconnect_max", "must be >= reconnect_min (%s); got %s", src.ReconnectMin, quote(src.ReconnectMax.String()))
	}
	t := src.TLS
	v.clientTLS(p+".tls", t)
	if (t != ClientTLSConfig{}) && scheme != "" && !tlsSchemes[scheme] {
		v.add(p+".tls", "is set but url scheme %s does not use TLS; use ssl, tls, mqtts or wss", quote(scheme))
	}
}

// quoteURL quotes a URL for an error unless it may hold credentials.
func quoteURL(s string) string {
	if strings.Contains(s, "@") {
		return "(not shown: it contains \"@\")"
	}
	return quote(s)
}

func (v validator) rule(p string, r *RuleConfig) {
	var tmpl *TopicTemplate
	if r.Topic == "" {
		v.add(p+".topic", "is required")
	} else if t, err := ParseTopicTemplate(r.Topic); err != nil {
		v.add(p+".topic", "invalid topic template %s: %v", quote(r.Topic), err)
	} else {
		tmpl = t
	}
	v.oneOf(p+".format", r.Format, FormatAuto, FormatJSON, FormatInflux, FormatNumber, FormatSenML)
	v.oneOf(p+".precision", r.Precision, PrecisionNS, PrecisionUS, PrecisionMS, PrecisionS)
	hasMetricLevel := tmpl != nil && tmpl.HasLabel(MetricLabel)
	switch {
	case r.Metric != "" && !validMetricName(r.Metric):
		v.add(p+".metric", "must be a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*); got %s", quote(r.Metric))
	case r.Metric != "" && hasMetricLevel:
		v.add(p+".metric", "is set but the topic has a {metric} level too; use one")
	case r.Metric == "" && tmpl != nil && !hasMetricLevel && r.Format == FormatNumber:
		v.add(p+".metric", "is required for format number when the topic has no {metric} level")
	}
	if r.MetricPrefix != "" && !validMetricName(r.MetricPrefix) {
		v.add(p+".metric_prefix", "must be a metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*); got %s", quote(r.MetricPrefix))
	}
	for _, name := range sortedKeys(r.Labels) {
		lp := joinPath(p+".labels", name)
		switch {
		case !validLabelName(name) || name == MetricLabel:
			v.add(lp, "%s is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __, not \"metric\")", quote(name))
		case tmpl != nil && tmpl.HasLabel(name):
			v.add(lp, "label %s is also captured by the topic template", quote(name))
		case r.Labels[name] == "":
			v.add(lp, "must not be empty")
		case !utf8Valid(r.Labels[name]):
			v.add(lp, "must be UTF-8 text without control characters")
		}
	}
	inc := map[string]bool{}
	for j, f := range r.Include {
		if f == "" {
			v.add(indexPath(p+".include", j), "must not be empty")
		}
		inc[f] = true
	}
	for j, f := range r.Exclude {
		switch {
		case f == "":
			v.add(indexPath(p+".exclude", j), "must not be empty")
		case inc[f]:
			v.add(indexPath(p+".exclude", j), "field %s is also in include", quote(f))
		}
	}
	for _, field := range sortedKeys(r.Scale) {
		sp := joinPath(p+".scale", field)
		sc := r.Scale[field]
		if field == "" {
			v.add(sp, "field name must not be empty")
		}
		if sc.Factor == 0 || math.IsNaN(sc.Factor) || math.IsInf(sc.Factor, 0) {
			v.add(sp+".factor", "must be a finite number other than 0; got %v", sc.Factor)
		}
		if math.IsNaN(sc.Offset) || math.IsInf(sc.Offset, 0) {
			v.add(sp+".offset", "must be a finite number; got %v", sc.Offset)
		}
	}
	seen := map[string]bool{}
	for j, l := range r.DeviceLabels {
		dp := indexPath(p+".device_labels", j)
		switch {
		case seen[l]:
			v.add(dp, "duplicate label %s", quote(l))
		case tmpl != nil && !tmpl.HasLabel(l) && r.Labels[l] == "":
			v.add(dp, "label %s is neither captured by the topic nor a static label", quote(l))
		case l == MetricLabel:
			v.add(dp, "{metric} names the metric, it cannot identify a device")
		}
		seen[l] = true
	}
}

func (c *Config) validateStorage(v validator) {
	v.positive("storage.tsdb.retention", c.Storage.TSDB.Retention)
	if c.Storage.TSDB.OutOfOrderWindow < 0 {
		v.add("storage.tsdb.out_of_order_window", "must be >= 0; got %s", quote(c.Storage.TSDB.OutOfOrderWindow.String()))
	}
	if n := c.Storage.TSDB.MaxHeadSeries; n < 0 {
		v.add("storage.tsdb.max_head_series", "must be >= 0 (0: automatic); got %d", n)
	}
	in := &c.Storage.Influx
	if in.URL == "" {
		if in.Org != "" || in.Bucket != "" || in.Token != "" || in.TokenFile != "" {
			v.add("storage.influx.url", "is required when org, bucket or token is set (the forwarder is enabled by url)")
		}
	} else {
		if u, err := url.Parse(in.URL); err != nil {
			v.add("storage.influx.url", "invalid URL %s", quoteURL(in.URL))
		} else if u.User != nil {
			v.add("storage.influx.url", "must not contain credentials; use token (or token_file)")
		} else if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add("storage.influx.url", `must be an http or https URL like "http://influxdb:8086"; got %s`, quote(in.URL))
		}
		if in.Org == "" {
			v.add("storage.influx.org", "is required when url is set")
		}
		if in.Bucket == "" {
			v.add("storage.influx.bucket", "is required when url is set")
		}
	}
	v.oneOf("storage.influx.precision", in.Precision, PrecisionNS, PrecisionUS, PrecisionMS, PrecisionS)
	if in.BatchSize < 1 || in.BatchSize > maxBatchSize {
		v.add("storage.influx.batch_size", "must be between 1 and %d; got %d", maxBatchSize, in.BatchSize)
	}
	v.positive("storage.influx.flush_interval", in.FlushInterval)
	v.positive("storage.influx.timeout", in.Timeout)
	if in.ReplayRate < 0 || math.IsNaN(in.ReplayRate) || math.IsInf(in.ReplayRate, 0) {
		v.add("storage.influx.replay_rate", "must be a finite number >= 0 (0 = unlimited); got %v", in.ReplayRate)
	}
	q := &in.Queue
	if q.MaxBytes <= 0 {
		v.add("storage.influx.queue.max_bytes", "must be > 0; got %s", quote(q.MaxBytes.String()))
	}
	if q.SegmentBytes <= 0 {
		v.add("storage.influx.queue.segment_bytes", "must be > 0; got %s", quote(q.SegmentBytes.String()))
	} else if q.MaxBytes > 0 && q.SegmentBytes > q.MaxBytes {
		v.add("storage.influx.queue.segment_bytes", "must be <= max_bytes (%s); got %s", q.MaxBytes, quote(q.SegmentBytes.String()))
	}
	v.oneOf("storage.influx.queue.full_policy", q.FullPolicy, FullPolicyDropOldest, FullPolicyBlock)
	validateInfluxRetry(v, in)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// queryHasCredentials reports a query parameter that commonly carries a camera credential (?user=&password=),
// which would otherwise show in /api/cameras and logs.
func queryHasCredentials(q url.Values) bool {
	for k := range q {
		switch strings.ToLower(k) {
		case "user", "username", "usr", "pass", "password", "pwd", "passwd", "token", "auth", "key", "secret":
			return true
		}
	}
	return false
}

func (c *Config) validateMedia(v validator) {
	m := c.Media
	if m.RingSeconds < Duration(2*time.Second) || m.RingSeconds > Duration(5*time.Minute) {
		v.add("media.ring_seconds", "must be between 2s and 5m; got %s", quote(m.RingSeconds.String()))
	}
	if m.RingMaxBytes < 1<<20 || m.RingMaxBytes > 1<<30 {
		v.add("media.ring_max_bytes", "must be between 1MiB and 1GiB; got %s", quote(m.RingMaxBytes.String()))
	}
	v.positive("media.clip_retention", m.ClipRetention)
	if m.ClipMaxBytes < 1<<20 {
		v.add("media.clip_max_bytes", "must be at least 1MiB; got %s", quote(m.ClipMaxBytes.String()))
	}
	for i, cam := range c.Cameras {
		if cam.ClipPre > m.RingSeconds {
			v.add(indexPath("cameras", i)+".clip_pre", "must not exceed media.ring_seconds (%s); got %s", m.RingSeconds, quote(cam.ClipPre.String()))
		}
	}
}

// validateIngestLimits checks the door limits of ingest: time sanity and per-device cardinality.
func (c *Config) validateIngestLimits(v validator) {
	in := &c.Ingest
	if in.MaxFutureSkew <= 0 {
		v.add("ingest.max_future_skew", "must be > 0; got %s", quote(in.MaxFutureSkew.String()))
	}
	if in.MaxSeriesPerDevice <= 0 {
		v.add("ingest.max_series_per_device", "must be > 0; got %d", in.MaxSeriesPerDevice)
	}
	if in.MaxFieldsPerMessage <= 0 {
		v.add("ingest.max_fields_per_message", "must be > 0; got %d", in.MaxFieldsPerMessage)
	}
	c.validateIngestDevices(v)
}
