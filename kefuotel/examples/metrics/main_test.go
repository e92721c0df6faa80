package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestScrape scrapes the example's /metrics and finds kefu's metrics: the
// five sends accepted, the sixth refused with 45047, their durations.
func TestScrape(t *testing.T) {
	var out bytes.Buffer
	ex, err := newExample(context.Background(), &out, 6)
	require.NoError(t, err)
	defer ex.Close()
	assert.Equal(t, 5, strings.Count(out.String(), ": ok\n"), out.String())
	assert.Contains(t, out.String(), "send 6: ")
	assert.Contains(t, out.String(), "45047")

	srv := httptest.NewServer(ex.Handler)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	srv.Client().CloseIdleConnections()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	text := string(body)

	for _, re := range []string{
		`(?m)^kefu_client_calls_total\{.*kefu_result="ok".*url_template="/cgi-bin/message/custom/send".*\} 5$`,
		`(?m)^kefu_client_calls_total\{.*kefu_result="refused".*wechat_errcode="45047".*\} 1$`,
		`(?m)^kefu_client_call_duration_seconds_count\{.*kefu_result="ok".*\} 5$`,
		`(?m)^kefu_client_attempts_total\{.*url_template="/cgi-bin/stable_token".*\} 1$`,
		`(?m)^kefu_client_token_refreshes_total\{.*kefu_token_reason="cold".*\} 1$`,
		`(?m)^# TYPE kefu_client_attempt_duration_seconds histogram$`,
	} {
		assert.Regexp(t, regexp.MustCompile(re), text)
	}
	assert.NotContains(t, text, "access_token")
	assert.NotContains(t, text, "o-example", "no openid in the metrics")
}

// TestRun serves the metrics on a free port until the context ends.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, pw, "127.0.0.1:0", 1)
		pw.Close()
	}()
	buf := make([]byte, 4096)
	var seen string
	for !strings.Contains(seen, "/metrics\n") {
		n, err := pr.Read(buf)
		require.NoError(t, err)
		seen += string(buf[:n])
	}
	url := regexp.MustCompile(`http://\S+/metrics`).FindString(seen)
	require.NotEmpty(t, url, seen)
	hc := &http.Client{Transport: &http.Transport{}}
	resp, err := hc.Get(url)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	hc.CloseIdleConnections()
	assert.Contains(t, string(body), "kefu_client_calls_total")
	cancel()
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	require.NoError(t, <-done)
}
