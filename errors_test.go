package kefu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAPIErrorParse(t *testing.T) {
	t.Parallel()
	e := newAPIError(sendPath, 45015, "response out of time limit or subscription is canceled rid: 6540f3a8-1b2c3d4e-5f6a7b8c")
	assert.Equal(t, "response out of time limit or subscription is canceled", e.Message)
	assert.Equal(t, "6540f3a8-1b2c3d4e-5f6a7b8c", e.RequestID)
	assert.Equal(t, "kefu: /cgi-bin/message/custom/send: errcode 45015: response out of time limit or subscription is canceled (rid 6540f3a8-1b2c3d4e-5f6a7b8c)", e.Error())
	e = newAPIError(sendPath, -1, "system error hint: [Xy12Ab]")
	assert.Equal(t, "system error", e.Message)
	assert.Equal(t, "Xy12Ab", e.RequestID)
	assert.ErrorIs(t, e, ErrSystemBusy)
	e = newAPIError(sendPath, 40001, "invalid credential, access_token is invalid or not latest, could get access_token by getStableAccessToken rid: 1")
	assert.ErrorIs(t, e, ErrInvalidToken)
	assert.NotErrorIs(t, e, ErrBadCredentials)
	e.Path = tokenPath
	assert.ErrorIs(t, e, ErrBadCredentials)
	assert.NotErrorIs(t, e, ErrInvalidToken)
	for code, want := range map[int]error{43004: ErrNotFollowing, 40007: ErrInvalidMedia, 48001: ErrUnauthorized,
		48004: ErrUnauthorized, 43019: ErrUserBlocked, 48002: ErrUserBlocked, 50002: ErrUserBlocked, 41001: ErrInvalidToken} {
		assert.ErrorIs(t, newAPIError(sendPath, code, "x"), want, code)
	}
	assert.NotErrorIs(t, newAPIError(sendPath, 45015, "x"), ErrQuotaExceeded)
}

// TestRedaction runs every error path with answers that echo the token and
// the secret, and checks neither reaches an error string or a log record.
func TestRedaction(t *testing.T) {
	t.Parallel()
	const tok = "SECRETTOKEN_zyxwvutsrqponmlkjihgfedcba9876543210"
	echo := func(status int, body string) http.HandlerFunc {
		return func(rw http.ResponseWriter, r *http.Request) {
			rw.WriteHeader(status)
			io.WriteString(rw, strings.NewReplacer("$URL", r.URL.String(), "$TOK", tok, "$SECRET", testSecret).Replace(body))
		}
	}
	sendAnswers := []http.HandlerFunc{
		echo(200, `{"errcode":40003,"errmsg":"invalid openid for $TOK at $URL rid: 1"}`),
		echo(200, `{"errcode":-1,"errmsg":"system error access_token=$TOK"}`),
		echo(502, `<html>bad gateway for $URL</html>`),
		echo(200, `<html>`+strings.Repeat("x", 100)+`$TOK</html>`),
		echo(503, `upstream said: $URL`),
		echo(404, `{"error":"$URL"}`),
		echo(200, `{"errcode":0,"errm`+`$TOK`),
		func(rw http.ResponseWriter, r *http.Request) {
			conn, _, _ := rw.(http.Hijacker).Hijack()
			conn.Close()
		},
	}
	tokenAnswers := []http.HandlerFunc{
		echo(200, `{"errcode":40125,"errmsg":"invalid appsecret $SECRET at $URL"}`),
		echo(500, `<html>$URL body was {"secret":"$SECRET"}</html>`),
		echo(200, `{"access_token":"$TOK","expires_in":-5}`),
		echo(200, `{"access_token":"$TOK","expires_in":"soon"}`),
	}
	var errs []string
	logs := &captureHandler{}
	logger := slog.New(logs)
	for _, classic := range []bool{false, true} {
		for _, h := range sendAnswers {
			w := newWechat(t)
			w.handle(stableTokenPath, echo(200, `{"access_token":"$TOK","expires_in":7200}`))
			w.handle(tokenPath, echo(200, `{"access_token":"$TOK","expires_in":7200}`))
			w.handle(sendPath, h)
			opts := []Option{WithLogger(logger), WithRetry(RetryPolicy{MaxAttempts: 2, RetryCodes: []int{-1}, RetryUnknown: true})}
			if classic {
				opts = append(opts, WithClassicToken())
			}
			c := newTestClient(t, w, opts...)
			_, err := c.Send(context.Background(), NewText("OPENID", "hi"))
			require.Error(t, err)
			errs = append(errs, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		}
		for _, h := range tokenAnswers {
			w := newWechat(t)
			w.handle(stableTokenPath, h)
			w.handle(tokenPath, h)
			opts := []Option{WithLogger(logger)}
			if classic {
				opts = append(opts, WithClassicToken())
			}
			c := newTestClient(t, w, opts...)
			_, err := c.Send(context.Background(), NewText("OPENID", "hi"))
			require.Error(t, err)
			errs = append(errs, err.Error(), fmt.Sprintf("%+v", err))
		}
	}
	// Transport errors carry the URL inside *url.Error: it must be gone.
	c, err := NewClient(StaticToken(tok), WithBaseURL("http://127.0.0.1:1"), WithLogger(logger), noWait)
	require.NoError(t, err)
	_, err = c.Send(context.Background(), NewText("OPENID", "hi"))
	require.Error(t, err)
	errs = append(errs, err.Error())
	var ue *url.Error
	assert.False(t, errors.As(err, &ue), "no *url.Error with the token inside")

	require.NotEmpty(t, logs.lines)
	for _, s := range append(errs, logs.lines...) {
		assert.NotContains(t, s, tok)
		assert.NotContains(t, s, testSecret)
		assert.NotContains(t, s, "SECRETTOKEN")
	}
}

func TestScrub(t *testing.T) {
	t.Parallel()
	in := `GET /x?appid=a&secret=S3CR3T&access_token=TT&b=1 {"access_token": "TT2", "secret":"S2"}`
	out := scrub(in)
	assert.Equal(t, `GET /x?appid=a&secret=REDACTED&access_token=REDACTED&b=1 {"access_token":"REDACTED", "secret":"REDACTED"}`, out)
	assert.Equal(t, "a REDACTED b", scrub("a tokenvalue b", "tokenvalue", ""))
}

// TestErrorsAreOneLine: text WeChat (or a proxy) sends back cannot split an
// error string, so log.Print(err) writes one record. An errmsg, its rid or
// hint, a redirect target and an HTML page with line breaks and other
// control characters used to reach Error() as they were.
func TestErrorsAreOneLine(t *testing.T) {
	t.Parallel()
	const forged = "\n2026/11/30 12:00:00 FORGED record\r\x1b[2J\u2028\u0085"
	w := newWechat(t)
	w.handle(stableTokenPath, stableTokens())
	answers := []http.HandlerFunc{
		answerWith(`{"errcode":45015,"errmsg":"out of time` + jsonEscape(forged) + ` rid: 1-2` + jsonEscape(forged) + `"}`),
		answerWith(`{"errcode":-1,"errmsg":"system error hint: [ab` + jsonEscape(forged) + `]"}`),
		func(rw http.ResponseWriter, _ *http.Request) {
			rw.Header().Set("Location", "https://elsewhere.example/x"+forged)
			rw.WriteHeader(http.StatusTemporaryRedirect)
		},
		func(rw http.ResponseWriter, _ *http.Request) {
			rw.WriteHeader(http.StatusBadGateway)
			io.WriteString(rw, "<html>bad gateway"+forged+"</html>")
		},
	}
	for i, h := range answers {
		w.handle(sendPath, h)
		c := newTestClient(t, w, WithRetry(NoRetry))
		_, err := c.Send(context.Background(), NewText("OPENID", "hi"))
		require.Error(t, err, i)
		for _, s := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err)} {
			assert.False(t, strings.ContainsFunc(s, isControl), "answer %d: a control character in %q", i, s)
		}
		var ae *APIError
		if errors.As(err, &ae) {
			assert.False(t, strings.ContainsFunc(ae.Message+ae.RequestID, isControl), "answer %d: %q %q", i, ae.Message, ae.RequestID)
			assert.Contains(t, ae.Message+ae.RequestID, `\n2026/11/30`, "escaped, not dropped")
		}
	}
	assert.Equal(t, `a\nb\r\x1b\u2028\u0085\tc`, oneLine("a\nb\r\x1b\u2028\u0085\tc"))
	assert.Equal(t, "plain 中文", oneLine("plain 中文"))
}

// jsonEscape writes s as the inside of a JSON string.
func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}
