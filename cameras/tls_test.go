package cameras

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"citywatch/sim/camerasim"
	"citywatch/sim/camerasim/simtest"
)

// selfSigned returns a TLS config with a fresh self-signed certificate for 127.0.0.1 and its fingerprint.
func selfSigned(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	sum := sha256.Sum256(der)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, hex.EncodeToString(sum[:])
}

func TestMonitorRTSPS(t *testing.T) {
	t.Parallel() // waits on real RTSP streams (see ioParallel)
	tlsCfg, fp := selfSigned(t)
	sim := simtest.Start(t, camerasim.Config{Cameras: 1, TLSConfig: tlsCfg})
	require.True(t, strings.HasPrefix(sim.URL(1), "rtsps://"))

	pinned := testCamera("pinned", sim.URL(1))
	pinned.TLSFingerprint = strings.ToUpper(fp[:2]) + ":" + fp[2:] // accepted in either form
	wrong := testCamera("wrong", sim.URL(1))
	wrong.TLSFingerprint = strings.Repeat("ab", 32)
	unpinned := testCamera("unpinned", sim.URL(1))
	h := startMonitor(t, []CameraConfig{pinned, wrong, unpinned})

	h.waitState(t, "pinned", StateOnline, 10*time.Second)
	st := h.waitState(t, "wrong", StateOffline, 5*time.Second)
	require.Contains(t, st.Reason, "does not match tls_fingerprint")
	st = h.waitState(t, "unpinned", StateOffline, 5*time.Second)
	require.True(t, strings.HasPrefix(st.Reason, "TLS: "), st.Reason)
}
