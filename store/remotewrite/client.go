package remotewrite

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/storage/remote"

	"citywatch/internal/safehttp"
)

// storer sends one encoded write request; Prometheus' remote-write client implements it.
type storer interface {
	Store(ctx context.Context, req []byte, attempt int) (remote.WriteResponseStats, error)
}

// exchange records what the receiver answered to one Store call. Prometheus' client reports a status only
// in its error text and keeps Retry-After to itself, so a round tripper reads them from the response.
type exchange struct {
	status     int
	retryAfter string
}

type exchangeKey struct{}

// recorder is the round tripper that fills the exchange found in the request's context.
type recorder struct{ next http.RoundTripper }

func (r recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if x, ok := req.Context().Value(exchangeKey{}).(*exchange); ok && resp != nil {
		x.status = resp.StatusCode
		x.retryAfter = resp.Header.Get("Retry-After")
	}
	return resp, err
}

// newClient builds Prometheus' remote-write client for cfg with the protocol version msg. Credentials ride
// in every request of the client, so it follows no redirect that leaves the configured origin.
func newClient(cfg *Config, msg string) (storer, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("remotewrite: url: %w", err)
	}
	hc := config_util.HTTPClientConfig{
		FollowRedirects: true,
		EnableHTTP2:     true,
		TLSConfig: config_util.TLSConfig{
			CAFile:             cfg.TLSCAFile,
			CertFile:           cfg.TLSCertFile,
			KeyFile:            cfg.TLSKeyFile,
			ServerName:         cfg.TLSServerName,
			InsecureSkipVerify: cfg.TLSInsecureSkipVerify,
		},
	}
	if cfg.BasicAuthUser != "" || cfg.BasicAuthPassword != "" {
		hc.BasicAuth = &config_util.BasicAuth{Username: cfg.BasicAuthUser, Password: config_util.Secret(cfg.BasicAuthPassword)}
	}
	if cfg.BearerToken != "" {
		hc.Authorization = &config_util.Authorization{Type: "Bearer", Credentials: config_util.Secret(cfg.BearerToken)}
	}
	if err := hc.Validate(); err != nil {
		return nil, fmt.Errorf("remotewrite: http client: %w", err)
	}
	wm := remoteapi.WriteV1MessageType
	if msg == MessageV2 {
		wm = remoteapi.WriteV2MessageType
	}
	wc, err := remote.NewWriteClient(cfg.Name, &remote.ClientConfig{
		URL:              &config_util.URL{URL: u},
		Timeout:          model.Duration(cfg.Timeout),
		HTTPClientConfig: hc,
		Headers:          cfg.Headers,
		RetryOnRateLimit: true,
		WriteProtoMsg:    wm,
	})
	if err != nil {
		return nil, fmt.Errorf("remotewrite: client: %w", err)
	}
	c, ok := wc.(*remote.Client)
	if !ok {
		return nil, fmt.Errorf("remotewrite: unexpected client type %T", wc)
	}
	c.Client.CheckRedirect = safehttp.CheckRedirect(3)
	c.Client.Transport = recorder{next: c.Client.Transport}
	return c, nil
}
