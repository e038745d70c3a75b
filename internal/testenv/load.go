package testenv

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// PostConcurrently POSTs body (as application/json) to url n times from conc goroutines sharing client, each
// answer read to its end: the direct-delivery baseline the notification benchmarks compare the outbox with. It
// returns the first error; a goroutine stops at its first error, the others carry on.
func PostConcurrently(client *http.Client, url string, body []byte, n, conc int) error {
	var wg sync.WaitGroup
	var next atomic.Int64
	var once sync.Once
	var first error
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					once.Do(func() { first = fmt.Errorf("post: %w", err) })
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	return first
}
