package kefutest_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu/kefutest"
)

// page is an answer of the inbox.
type page struct {
	status int
	header http.Header
	body   string
}

// inboxDo makes a request to the inbox: a POST carries body as JSON.
func inboxDo(t *testing.T, srv *kefutest.Server, method, path, body string) page {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, stringBody(body))
	require.NoError(t, err)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	return inboxSend(t, req)
}

func inboxSend(t *testing.T, req *http.Request) page {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return page{resp.StatusCode, resp.Header, string(b)}
}

func inboxGet(t *testing.T, srv *kefutest.Server, path string) page {
	t.Helper()
	return inboxDo(t, srv, http.MethodGet, path, "")
}

func inboxServer(t *testing.T, opts ...kefutest.ServerOption) *kefutest.Server {
	t.Helper()
	return frozen(t, append([]kefutest.ServerOption{kefutest.WithInbox()}, opts...)...)
}

func TestInboxOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	srv := newServer(t, kefutest.WithAdminAPI())
	for _, p := range []string{"/", "/kefutest/inbox/users", "/kefutest/inbox/inbox.js", "/kefutest/inbox/events"} {
		assert.Equal(t, http.StatusNotFound, inboxGet(t, srv, p).status, p)
	}
}

func TestInboxPage(t *testing.T) {
	t.Parallel()
	srv := inboxServer(t)
	srv.Interact("alice", kefutest.UserMessage)
	_, err := srv.Client().Send(context.Background(), text("alice", "hello"))
	require.NoError(t, err)
	tokens := srv.IssuedTokens()
	require.NotEmpty(t, tokens)

	p := inboxGet(t, srv, "/?openid=alice")
	require.Equal(t, http.StatusOK, p.status)
	assert.Equal(t, "text/html; charset=utf-8", p.header.Get("Content-Type"))
	csp := p.header.Get("Content-Security-Policy")
	assert.Contains(t, csp, "script-src 'self';")
	assert.NotContains(t, csp, "unsafe-inline")
	assert.Equal(t, "nosniff", p.header.Get("X-Content-Type-Options"))
	assert.Contains(t, p.body, `<script src="/kefutest/inbox/inbox.js" defer></script>`)
	assert.NotContains(t, p.body, "<script>", "no inline script")
	assert.Empty(t, handlers(p.body), "no inline event handler")
	assert.Contains(t, p.body, srv.AppID)
	assert.Contains(t, p.body, "hello", "the selected conversation is in the page")
	assert.NotContains(t, p.body, srv.AppSecret)
	for _, tok := range tokens {
		assert.NotContains(t, p.body, tok)
	}

	assert.Equal(t, http.StatusMethodNotAllowed, inboxDo(t, srv, http.MethodPost, "/", "{}").status)
}

func TestInboxAssets(t *testing.T) {
	t.Parallel()
	srv := inboxServer(t)
	js := inboxGet(t, srv, "/kefutest/inbox/inbox.js")
	require.Equal(t, http.StatusOK, js.status)
	assert.Equal(t, "text/javascript; charset=utf-8", js.header.Get("Content-Type"))
	assert.Contains(t, js.body, "EventSource")
	assert.NotContains(t, js.body, "http", "nothing from elsewhere (no CDN)")
	css := inboxGet(t, srv, "/kefutest/inbox/inbox.css")
	require.Equal(t, http.StatusOK, css.status)
	assert.Equal(t, "text/css; charset=utf-8", css.header.Get("Content-Type"))
	assert.Equal(t, http.StatusNotFound, inboxGet(t, srv, "/kefutest/inbox/page.html").status, "templates are not files to fetch")
	assert.Equal(t, http.StatusNotFound, inboxGet(t, srv, "/kefutest/inbox/nope").status)
	assert.Equal(t, http.StatusNotFound, inboxGet(t, srv, "/favicon.ico").status, "only / and /kefutest/inbox/ are the inbox's")
}

func TestInboxRefusesOtherSites(t *testing.T) {
	t.Parallel()
	srv := inboxServer(t)
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/kefutest/inbox/add_user", strings.NewReader(`{"openid":"o1"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "text/plain") // what a form elsewhere can send
	assert.Equal(t, http.StatusForbidden, inboxSend(t, req).status)
	req, err = http.NewRequest(http.MethodPost, srv.URL+"/kefutest/inbox/add_user", strings.NewReader(`{"openid":"o1"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusForbidden, inboxSend(t, req).status)
	assert.Nil(t, srv.Conversation("o1"))
	assert.False(t, srv.Windows("o1").Known, "nothing was done")
}
