package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"citywatch/app"
	"citywatch/cameras"
	"citywatch/config"
)

// benchToken is the admin API token of the in-process citywatch the bench runs.
const benchToken = "bench-admin-token-0123456789abcdef"

// runningApp is a whole citywatch (app.New + Run) in this process, as `citywatch serve` runs it.
type runningApp struct {
	a      *app.App
	base   string
	mqtt   string
	cancel context.CancelFunc
	done   chan error
	dir    string
}

// appConfigHead starts a bench configuration: the data directory, the HTTP and the MQTT listen address
// (%[1]s to %[3]s, as startAppWith and queryBudgetLoad fill them) and the embedded broker, open to anonymous
// clients.
const appConfigHead = `data_dir: %[1]s
http:
  listen: %[2]s
broker:
  listen: %[3]s
  allow_anonymous: true
`

// noMQTTNotify turns the MQTT notifier off, so that no alert is published to the bench's broker.
const noMQTTNotify = `notify:
  mqtt:
    enabled: false
`

// startApp writes cfgBody (with %[1]s for the data directory, %[2]s for the HTTP and %[3]s for the MQTT
// listen address, both free ports) and the rule file into a temp directory, loads it like `citywatch serve
// --config` does, runs the app and waits until /readyz answers 200.
func startApp(cfgBody, rules string, cams []cameras.CameraConfig) (*runningApp, error) {
	return startAppWith(cfgBody, rules, app.Options{Cameras: cams})
}

// startAppWith is startApp with more app options; the admin token and the logger are always the bench's.
func startAppWith(cfgBody, rules string, opts app.Options) (*runningApp, error) {
	dir, err := os.MkdirTemp("", "citywatch-bench-app-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(rules), 0o600); err != nil {
		return nil, err
	}
	httpAddr := "127.0.0.1:" + strconv.Itoa(freePort())
	mqttAddr := "127.0.0.1:" + strconv.Itoa(freePort())
	path := filepath.Join(dir, "citywatch.yaml")
	if err := os.WriteFile(path, fmt.Appendf(nil, cfgBody, filepath.Join(dir, "data"), httpAddr, mqttAddr), 0o600); err != nil {
		return nil, err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	opts.AdminToken, opts.Logger = benchToken, quiet
	a, err := app.New(cfg, opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningApp{a: a, cancel: cancel, done: make(chan error, 1), dir: dir, base: "http://" + httpAddr, mqtt: mqttAddr}
	go func() { r.done <- a.Run(ctx) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-r.done:
			cancel()
			return nil, fmt.Errorf("citywatch stopped during start: %w", err)
		default:
		}
		if code, _ := r.getJSON("/readyz", nil); code == http.StatusOK {
			return r, nil
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("citywatch not ready within 60s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *runningApp) stop() {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(60 * time.Second):
	}
	os.RemoveAll(r.dir)
}

var apiClient = &http.Client{Timeout: 30 * time.Second}

// benchRequest sends a request with the bench's admin token (a body is JSON) through apiClient.
func benchRequest(method, url string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+benchToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return apiClient.Do(req)
}

func (r *runningApp) getJSON(path string, v any) (int, error) {
	resp, err := benchRequest("GET", r.base+path, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || v == nil {
		return resp.StatusCode, err
	}
	return resp.StatusCode, json.Unmarshal(body, v)
}

// instantCount returns the number of series an instant PromQL query returns through the HTTP API.
func (r *runningApp) instantCount(q string) (int, error) {
	var res struct {
		Status string `json:"status"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	code, err := r.getJSON("/api/v1/query?query="+url.QueryEscape(q), &res)
	if err != nil {
		return 0, err
	}
	if code != 200 || res.Status != "success" {
		return 0, fmt.Errorf("query %q: %d", q, code)
	}
	return len(res.Data.Result), nil
}

// hookReceiver records when each webhook arrived, keyed by a label of the alert.
type hookReceiver struct {
	srv *httptest.Server
	key string

	mu    sync.Mutex
	fired map[string]time.Time
	n     int
}

func newHookReceiver(key string) *hookReceiver {
	h := &hookReceiver{key: key, fired: map[string]time.Time{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		var p struct {
			State    string            `json:"state"`
			Reminder bool              `json:"reminder"`
			Labels   map[string]string `json:"labels"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &p); err == nil && p.State == "firing" && !p.Reminder {
			h.mu.Lock()
			k := p.Labels[h.key]
			if _, seen := h.fired[k]; !seen {
				h.fired[k] = now
			}
			h.n++
			h.mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	return h
}

func (h *hookReceiver) firedAt(k string) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.fired[k]
	return t, ok
}

func (h *hookReceiver) forget(k string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.fired, k)
}

func mqttConnect(addr, id string) (paho.Client, error) {
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetConnectTimeout(10 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("mqtt connect %s: %v", addr, tok.Error())
	}
	return c, nil
}

func mqttPublish(c paho.Client, topic, payload string) error {
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		return fmt.Errorf("publish %s: %v", topic, tok.Error())
	}
	return nil
}

// percentile returns the p-th percentile (0..100) of ds by the nearest-rank method.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sortDurations(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) string {
	if d >= 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}
