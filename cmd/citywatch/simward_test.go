package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestSimulateWardFlag: --ward needs an http(s) base URL without credentials and the token in the environment
// (never a flag); both mistakes are usage errors before anything is published, and `citywatch help` names the flag.
func TestSimulateWardFlag(t *testing.T) {
	tests := []struct {
		name, url, token, want string
	}{
		{name: "no token", url: "http://127.0.0.1:1", want: "CITYWATCH_ADMIN_TOKEN"},
		{name: "not http", url: "ftp://127.0.0.1:1", token: "t", want: "http://"},
		{name: "no host", url: "http://", token: "t", want: "http://"},
		{name: "credentials in the URL", url: "http://u:secret@127.0.0.1:1", token: "t", want: "without credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CITYWATCH_ADMIN_TOKEN", tc.token)
			err := runSimulate(context.Background(), []string{"sensors", "--broker", "tcp://127.0.0.1:1", "--ward", tc.url}, io.Discard)
			var usage usageError
			if !errors.As(err, &usage) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a usage error mentioning %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
	if !strings.Contains(usage, "--ward URL") || !strings.Contains(usage, "$CITYWATCH_ADMIN_TOKEN") {
		t.Error("citywatch help does not document --ward")
	}
}
