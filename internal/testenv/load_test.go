package testenv

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPostConcurrently(t *testing.T) {
	var got, bytes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		bytes.Add(n)
		got.Add(1)
	}))
	defer srv.Close()
	require.NoError(t, PostConcurrently(srv.Client(), srv.URL, []byte(`{"a":1}`), 37, 4))
	require.Equal(t, int64(37), got.Load())
	require.Equal(t, int64(37*7), bytes.Load())

	srv.Close()
	require.ErrorContains(t, PostConcurrently(srv.Client(), srv.URL, []byte(`{}`), 5, 2), "post: ")
}
