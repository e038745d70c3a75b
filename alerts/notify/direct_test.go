package notify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestSendDirect: one signed attempt now, nothing stored; a failing receiver is an error, not a retry.
func TestSendDirect(t *testing.T) {
	var got atomic.Int32
	var status atomic.Int32
	status.Store(204)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(HeaderWebhookSignature) == "" {
			t.Error("direct delivery not signed")
		}
		got.Add(1)
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	db, err := OpenDB(filepath.Join(t.TempDir(), "n.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	o, err := NewOutbox(Config{DefaultReceiver: "fallback", Receivers: []Receiver{{Name: "fallback", URL: srv.URL,
		Secrets: []string{"0123456789abcdef0123"}, AllowPrivate: true}}}, Deps{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	c := Change{Fingerprint: "f", Name: "CitywatchCanaryFailing", State: "firing", StartsAt: time.Now()}
	if err := o.SendDirect(context.Background(), "fallback", c); err != nil || got.Load() != 1 {
		t.Fatalf("err %v, %d requests", err, got.Load())
	}
	status.Store(503)
	if err := o.SendDirect(context.Background(), "fallback", c); err == nil || got.Load() != 2 {
		t.Fatalf("a 503 was not reported: err %v, %d requests", err, got.Load())
	}
	if err := o.SendDirect(context.Background(), "nobody", c); err == nil {
		t.Fatal("an unknown receiver was accepted")
	}
	if list, _ := o.Deliveries(context.Background(), DeliveryFilter{}); len(list) != 0 {
		t.Fatalf("direct sends were stored: %+v", list)
	}
}
