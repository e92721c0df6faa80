package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func noEnv(string) string { return "" }

func TestTranscript(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, nil, noEnv); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	transcript := out.String()
	t.Log("\n" + transcript)

	for _, typ := range []string{"text", "image", "voice", "video", "music", "news", "mpnews",
		"mpnewsarticle", "msgmenu", "wxcard", "miniprogrampage", "link"} {
		re := regexp.MustCompile(`(?m)^✓ ` + typ + ` +→ o-\w+  errcode 0`)
		if !re.MatchString(transcript) {
			t.Errorf("no success line for %s", typ)
		}
	}
	for _, want := range []string{
		"✓ text            → o-bob  errcode 0 (from kf01@account)\n",
		"✗ news            → o-alice  45047 out of response count limit (kefu.ErrQuotaExceeded)\n",
		"(stable_token calls 1 → 2)",
		"✗ link            → o-bob  40008 invalid message type\n",
		"done: WeChat accepted 13 messages\n",
	} {
		if !strings.Contains(transcript, want) {
			t.Errorf("transcript lacks %q", want)
		}
	}
	// The recovery is reported right after the send that met the dead token.
	if !regexp.MustCompile(`✓ miniprogrampage → o-bob  errcode 0\n· recovered:`).MatchString(transcript) {
		t.Error("recovery line does not follow the send after RotateTokens")
	}
	if n := strings.Count(transcript, "✗"); n != 2 {
		t.Errorf("%d failed steps, want 2 (the 45047 and the 40008)", n)
	}
}

func TestPartialRealEnvIsAnError(t *testing.T) {
	var out bytes.Buffer
	env := func(k string) string {
		if k == "KEFU_APPID" {
			return "wx123"
		}
		return ""
	}
	err := run(&out, []string{"--real"}, env)
	if err == nil || !strings.Contains(err.Error(), "KEFU_OPENID") {
		t.Fatalf("run --real with only KEFU_APPID: got %v, want an error naming the missing variables", err)
	}
	if out.Len() != 0 {
		t.Errorf("printed %q before failing", out.String())
	}
}

// TestRealEnvStaysOnTheFake: KEFU_* variables set for other tools do not
// send the demo to WeChat; only --real does.
func TestRealEnvStaysOnTheFake(t *testing.T) {
	var out bytes.Buffer
	env := func(k string) string {
		return map[string]string{"KEFU_APPID": "wx123", "KEFU_SECRET": "s", "KEFU_OPENID": "o"}[k]
	}
	if err := run(&out, nil, env); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "done: WeChat accepted 13 messages") {
		t.Errorf("the tour against the fake did not run:\n%s", out.String())
	}
}
