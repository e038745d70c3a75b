package cameras

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"syscall"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
)

// ErrCameraNotFound is returned by Monitor.Camera for an unknown camera ID.
var ErrCameraNotFound = errors.New("cameras: camera not found")

// errTLSFingerprint is returned when an rtsps camera's certificate does not match the pinned fingerprint.
var errTLSFingerprint = errors.New("camera TLS certificate does not match tls_fingerprint")

// errNoVideo is returned when the stream has no video track.
var errNoVideo = errors.New("no video track")

// classify maps a connection or session error to a failure kind and a short human detail. The detail is
// built from the error kind, not from the raw text, except for protocol errors, which are sanitized.
func classify(err error, sanitize func(string) string) Failure {
	var bad liberrors.ErrClientBadStatusCode
	switch {
	case err == nil:
		return Failure{}
	case errors.As(err, &bad):
		if bad.Code == base.StatusUnauthorized {
			return Failure{Kind: FailureUnauthorized, Detail: "camera rejected the credentials (401)"}
		}
		return Failure{Kind: FailureRejected, Detail: fmt.Sprintf("camera answered %d %s", int(bad.Code), sanitize(bad.Message))}
	case errors.As(err, new(liberrors.ErrClientTCPTimeout)), errors.As(err, new(liberrors.ErrClientUDPTimeout)):
		return Failure{Kind: FailureNoData, Detail: "session timed out without data"}
	case errors.As(err, new(liberrors.ErrClientRequestTimedOut)):
		return Failure{Kind: FailureTimeout, Detail: "camera did not answer the RTSP request in time"}
	case errors.Is(err, errTLSFingerprint):
		return Failure{Kind: FailureTLS, Detail: errTLSFingerprint.Error()}
	case isTLS(err):
		return Failure{Kind: FailureTLS, Detail: "TLS: " + sanitize(err.Error())}
	case errors.Is(err, errNoVideo):
		return Failure{Kind: FailureNoVideo, Detail: sanitize(err.Error())}
	case errors.Is(err, syscall.ECONNREFUSED):
		return Failure{Kind: FailureRefused, Detail: "connection refused"}
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return Failure{Kind: FailureRefused, Detail: "camera unreachable (no route to host)"}
	case isDNS(err):
		return Failure{Kind: FailureRefused, Detail: "camera host name does not resolve"}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), isTimeout(err):
		return Failure{Kind: FailureTimeout, Detail: "connection timed out"}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return Failure{Kind: FailureClosed, Detail: "camera closed the connection"}
	}
	return Failure{Kind: FailureProtocol, Detail: "RTSP error: " + sanitize(err.Error())}
}

func isTLS(err error) bool {
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	var ce x509.CertificateInvalidError
	var ve *tls.CertificateVerificationError
	var re tls.RecordHeaderError
	var ae tls.AlertError
	return errors.As(err, &ue) || errors.As(err, &he) || errors.As(err, &ce) || errors.As(err, &ve) ||
		errors.As(err, &re) || errors.As(err, &ae)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isDNS(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && !de.IsTimeout
}

// userinfoRE matches the userinfo part of any URL in a text.
var userinfoRE = regexp.MustCompile(`(?i)([a-z][a-z0-9+.-]*://)[^/@\s]*@`)

// maxErrorText bounds error and reason texts that may carry camera-controlled bytes.
const maxErrorText = 256

// newSanitizer returns a function that removes credentials from text: userinfo of any URL, and the literal
// username/password pair and password in raw and URL-escaped form. It also bounds the length and drops
// control characters, since the text may quote bytes the camera sent.
func newSanitizer(username, password string) func(string) string {
	var secrets []string
	if password != "" {
		secrets = append(secrets, url.UserPassword(username, password).String(), password,
			url.QueryEscape(password), url.PathEscape(password), controlToSpace(password))
	}
	redact := func(s string) string {
		s = userinfoRE.ReplaceAllString(s, "$1")
		for _, sec := range secrets {
			if sec != "" {
				s = strings.ReplaceAll(s, sec, "***")
			}
		}
		return s
	}
	return func(s string) string {
		// Redact before and after replacing control characters: either form may spell a secret.
		s = redact(s)
		s = redact(controlToSpace(s))
		if len(s) > maxErrorText {
			s = strings.ToValidUTF8(s[:maxErrorText], "") + "…"
		}
		return s
	}
}

func controlToSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// redactURL returns raw without userinfo; it is what Status.URL and config errors show.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return userinfoRE.ReplaceAllString(raw, "$1")
	}
	u.User = nil
	return u.String()
}
