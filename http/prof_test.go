package http

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func BenchmarkProfStoreRecall(b *testing.B) {
	srv, _ := newTestServer(b, nil, nil)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	do := func(method, path, token, body string) int {
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	do("POST", "/admin/tenants", testAdminToken, `{"tenant_id":"p","api_token":"token-of-p"}`)
	b.ResetTimer()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < b.N; i++ {
				do("POST", "/memory", "token-of-p", fmt.Sprintf(`{"content":"note %d about the deploy of service %d and its database migration plan","tags":["project:p%d"]}`, i, g, i%7))
				if i%3 == 0 {
					do("GET", "/recall?query=deploy+database+migration&limit=10", "token-of-p", "")
				}
			}
		}()
	}
	wg.Wait()
}
