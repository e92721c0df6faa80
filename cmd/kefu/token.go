package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kefu-go/kefu"
)

// tokenCommand is "kefu token": an access token and its expiry.
func tokenCommand() *command {
	return &command{
		name:    "token",
		summary: "fetch an access token and print when it expires",
		usage: `  kefu token                     check the credentials: prints the token's expiry only
  TOKEN=$(kefu token --show)     the token itself on stdout (the expiry goes to stderr)

It asks the stable endpoint (POST /cgi-bin/stable_token, no force_refresh),
which hands every caller the same token: it disturbs nobody. --classic asks
GET /cgi-bin/token instead, which issues a new token on every call and kills
the app's previous classic token 5 minutes later: other processes using it
will see 40001.
`,
		flags: tokenFlags,
	}
}

// tokenFlags defines kefu token's flags on fs.
func tokenFlags(fs *flag.FlagSet) runFunc {
	t := &tokenRun{}
	t.api.register(fs)
	fs.BoolVar(&t.show, "show", false, "print the token itself, alone on stdout")
	fs.BoolVar(&t.classic, "classic", false, "use the classic GET /cgi-bin/token (kills the previous classic token)")
	return t.run
}

// tokenRun is a run of kefu token: the flags it was given.
type tokenRun struct {
	api           apiFlags
	show, classic bool
}

func (t *tokenRun) run(ctx context.Context, e *env, _ []string) error {
	if err := t.api.resolve(e); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, t.api.timeout)
	defer cancel()
	token, expiresIn, err := fetchToken(ctx, &t.api, t.classic)
	if err != nil {
		return err
	}
	status := e.stdout
	if t.show {
		status = e.stderr
	}
	at := time.Now().Add(expiresIn).Truncate(time.Second)
	fmt.Fprintf(status, "token ok, expires in %v (at %s)\n", expiresIn, at.Format(time.RFC3339))
	if t.show {
		fmt.Fprintln(e.stdout, token)
	}
	return nil
}

// tokenAnswer is an answer of the token endpoints: a token, or errcode and
// errmsg.
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	ErrCode     int    `json:"errcode"`
	ErrMsg      string `json:"errmsg"`
}

// fetchToken asks WeChat for a token directly: kefu's TokenSource hides the
// expiry. Errors never hold the secret (the classic URL carries it), nor the
// password of a base URL with user:password.
func fetchToken(ctx context.Context, api *apiFlags, classic bool) (string, time.Duration, error) {
	method, path, query := http.MethodPost, "/cgi-bin/stable_token", ""
	var body io.Reader
	if classic {
		method, path = http.MethodGet, "/cgi-bin/token"
		query = "?" + url.Values{"grant_type": {"client_credential"}, "appid": {api.appID}, "secret": {api.secret}}.Encode()
	} else {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.Encode(map[string]any{"grant_type": "client_credential", "appid": api.appID, "secret": api.secret, "force_refresh": false})
		body = &b
	}
	req, err := http.NewRequestWithContext(ctx, method, api.baseURL+path+query, body)
	if err != nil {
		return "", 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	req.Header.Set("User-Agent", "kefu-go/"+kefu.Version+" (cmd/kefu)")
	shown := api.baseURL
	if u, err := url.Parse(api.baseURL); err == nil && u.User != nil {
		shown = u.Redacted() // user:xxxxx@, as kefu's errors show it
	}
	where := method + " " + shown + path // no query: it holds the secret
	// No Timeout: ctx's deadline, from --timeout, bounds the whole call.
	hc := &http.Client{}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", 0, fmt.Errorf("%s: %w", where, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", 0, fmt.Errorf("%s: reading the answer: %w", where, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("%s: HTTP %s: %s", where, resp.Status, snippet(data))
	}
	var a tokenAnswer
	if err := json.Unmarshal(data, &a); err != nil {
		return "", 0, fmt.Errorf("%s: answer is not JSON: %s", where, snippet(data))
	}
	switch {
	case a.ErrCode != 0:
		return "", 0, tokenError(a, path)
	case a.AccessToken == "" || a.ExpiresIn <= 0:
		return "", 0, fmt.Errorf("%s: answer lacks access_token or expires_in", where) // no snippet: it may hold a token
	}
	return a.AccessToken, time.Duration(a.ExpiresIn) * time.Second, nil
}

// tokenError turns WeChat's error answer into a *kefu.APIError, so that it
// prints like every other: errcode, errmsg and rid.
func tokenError(a tokenAnswer, path string) error {
	msg, rid := a.ErrMsg, ""
	for _, sep := range []string{" rid: ", " hint: "} {
		if i := strings.LastIndex(msg, sep); i >= 0 {
			msg, rid = msg[:i], strings.Trim(msg[i+len(sep):], "[] ")
			break
		}
	}
	return &kefu.APIError{Code: a.ErrCode, Message: msg, RequestID: rid, Path: path}
}

// snippet is the start of an answer, on one line, for an error message.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return fmt.Sprintf("%q", s)
}
