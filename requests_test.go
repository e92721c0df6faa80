package kefu

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var updateRequests = flag.Bool("update-requests", false, "rewrite the golden requests in testdata/requests")

// withBoundary fixes the multipart boundary of uploads, so their bodies are
// byte for byte the same on every run.
func withBoundary(b string) Option {
	return func(s *settings) error {
		s.boundary = b
		return nil
	}
}

// recorder answers every path with a canned success and keeps the last
// request: method, path, query without access_token, Content-Type, body.
type recorder struct {
	mu   sync.Mutex
	last []byte
}

var cannedAnswers = map[string]string{
	stableTokenPath:   `{"access_token":"GOLDENTOKEN_0123456789abcdef","expires_in":7200}`,
	mediaUploadPath:   `{"type":"image","media_id":"MEDIA_ID","created_at":1672500000}`,
	uploadImgPath:     `{"url":"http://mmbiz.qpic.cn/mmbiz_jpeg/x/0"}`,
	accountListPath:   `{"kf_list":[]}`,
	onlineListPath:    `{"kf_online_list":[]}`,
	sessionGetPath:    `{"createtime":123456789,"kf_account":"kf1@test"}`,
	sessionListPath:   `{"sessionlist":[]}`,
	waitCasePath:      `{"count":0,"waitcaselist":[]}`,
	msgRecordPath:     `{"recordlist":[],"number":0,"msgid":1}`,
	accountAddPath:    okAnswer,
	accountUpdatePath: okAnswer,
	accountDelPath:    okAnswer,
	inviteWorkerPath:  okAnswer,
	headImgPath:       okAnswer,
	sessionCreatePath: okAnswer,
	sessionClosePath:  okAnswer,
	quotaGetPath:      `{"errcode":0,"errmsg":"ok","quota":{"daily_limit":500000,"used":120,"remain":499880}}`,
	clearQuotaPath:    okAnswer,
	templateSendPath:  `{"errcode":0,"errmsg":"ok","msgid":200228332}`,
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	q.Del("access_token")
	var b bytes.Buffer
	b.WriteString(r.Method + " " + r.URL.Path)
	if len(q) > 0 {
		b.WriteString("?" + q.Encode())
	}
	b.WriteString("\n")
	if ct := r.Header.Get("Content-Type"); ct != "" {
		b.WriteString("Content-Type: " + ct + "\n")
	}
	b.WriteString("\n")
	b.Write(body)
	if r.URL.Path != stableTokenPath {
		rec.mu.Lock()
		rec.last = b.Bytes()
		rec.mu.Unlock()
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	io.WriteString(w, cannedAnswers[r.URL.Path])
}

// TestGoldenRequests compares each management call's request, multipart
// framing included, with testdata/requests/NAME.http byte for byte.
func TestGoldenRequests(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	opts := []Option{WithBaseURL(srv.URL), withBoundary("kefu-golden-boundary")}
	ts, err := NewTokenSource(testAppID, testSecret, opts...)
	require.NoError(t, err)
	c, err := NewClient(ts, opts...)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	ctx := context.Background()
	start := time.Date(2016, 6, 1, 0, 0, 0, 0, time.FixedZone("UTC+8", 8*3600))

	cases := []struct {
		name string
		call func() error
	}{
		{"media_upload_image", func() error {
			_, err := c.UploadMedia(ctx, MediaImage, "photo.png", strings.NewReader("PNG bytes"))
			return err
		}},
		{"media_upload_voice", func() error {
			_, err := c.UploadMedia(ctx, MediaVoice, "hello.AMR", bytes.NewReader([]byte("#!AMR\n")))
			return err
		}},
		{"media_upload_video_unknown_size", func() error {
			_, err := c.UploadMedia(ctx, MediaVideo, "/tmp/clip.mp4", io.MultiReader(strings.NewReader("mp4 ")))
			return err
		}},
		{"media_upload_thumb", func() error {
			_, err := c.UploadMedia(ctx, MediaThumb, `封面 "1".jpg`, bytes.NewBufferString("JFIF"))
			return err
		}},
		{"media_uploadimg", func() error {
			_, err := c.UploadImage(ctx, "banner.jpeg", strings.NewReader("JFIF"))
			return err
		}},
		{"kfaccount_uploadheadimg", func() error {
			return c.SetAccountAvatar(ctx, "kf1@test", "avatar.png", strings.NewReader("PNG"))
		}},
		{"kfaccount_add", func() error { return c.AddAccount(ctx, Account{KfAccount: "kf1@test", Nickname: "客服<1>&"}) }},
		{"kfaccount_update", func() error {
			return c.UpdateAccount(ctx, Account{KfAccount: "kf1@test", Nickname: "客服一", ID: "ignored", WeChatID: "ignored"})
		}},
		{"kfaccount_del", func() error { return c.DeleteAccount(ctx, "kf1@test") }},
		{"kfaccount_inviteworker", func() error { return c.InviteWorker(ctx, "kf1@test", "test_kfwx") }},
		{"getkflist", func() error { _, err := c.Accounts(ctx); return err }},
		{"getonlinekflist", func() error { _, err := c.OnlineAccounts(ctx); return err }},
		{"kfsession_create", func() error { return c.OpenSession(ctx, "kf1@test", "OPENID") }},
		{"kfsession_close", func() error { return c.CloseSession(ctx, "kf1@test", "OPENID") }},
		{"kfsession_getsession", func() error { _, err := c.Session(ctx, "o+ID/1"); return err }},
		{"kfsession_getsessionlist", func() error { _, err := c.Sessions(ctx, "kf1@test"); return err }},
		{"kfsession_getwaitcase", func() error { _, err := c.WaitingSessions(ctx); return err }},
		{"msgrecord_getmsglist", func() error {
			_, err := c.RecordsPage(ctx, start, start.Add(24*time.Hour), 1, MaxRecordsPage)
			return err
		}},
		{"quota_get", func() error { _, err := c.Quota(ctx, sendPath); return err }},
		{"clear_quota", func() error { return c.ClearQuota(ctx, testAppID) }},
		{"template_send", func() error {
			_, err := c.SendTemplate(ctx, &TemplateMessage{ToUser: "OPENID", TemplateID: "TEMPLATE_ID",
				URL: "https://shop.example/o?id=1&x=<2>", ClientMsgID: "order-1",
				MiniProgram: &TemplateMiniProgram{AppID: "wxmini", PagePath: "pages/index?id=1"},
				Data:        map[string]TemplateValue{"thing1": {Value: "茶 & 点心"}, "amount2": {Value: "¥9.90", Color: "#173177"}}})
			return err
		}},
		{"template_send_minimal", func() error {
			_, err := c.SendTemplate(ctx, &TemplateMessage{ToUser: "OPENID", TemplateID: "TEMPLATE_ID",
				Data: map[string]TemplateValue{"thing1": {Value: "hi"}}})
			return err
		}},
		{"msgrecord_getmsglist_records", func() error {
			for _, err := range c.Records(ctx, start, start.Add(time.Hour)) {
				return err
			}
			return nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, tc.call())
			rec.mu.Lock()
			got := rec.last
			rec.mu.Unlock()
			file := filepath.Join("testdata", "requests", tc.name+".http")
			if *updateRequests {
				require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o755))
				require.NoError(t, os.WriteFile(file, got, 0o644))
			}
			want, err := os.ReadFile(file)
			require.NoError(t, err, "run go test -run TestGoldenRequests -update-requests to write it")
			assert.Equal(t, string(want), string(got))
		})
	}
}

// TestUploadContentLength checks that an upload of known size declares it,
// and one of unknown size goes chunked.
func TestUploadContentLength(t *testing.T) {
	var mu sync.Mutex
	var lengths []int64
	var chunked []bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.URL.Path == mediaUploadPath {
			mu.Lock()
			lengths = append(lengths, r.ContentLength)
			chunked = append(chunked, len(r.TransferEncoding) > 0)
			mu.Unlock()
		}
		io.WriteString(w, cannedAnswers[r.URL.Path])
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(StaticToken("T0KEN"), WithBaseURL(srv.URL), withBoundary("b"))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	_, err = c.UploadMedia(context.Background(), MediaImage, "a.png", strings.NewReader("12345"))
	require.NoError(t, err)
	_, err = c.UploadMedia(context.Background(), MediaImage, "a.png", io.MultiReader(strings.NewReader("12345")))
	require.NoError(t, err)
	frame := int64(len("--b\r\nContent-Disposition: form-data; name=\"media\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n" +
		"\r\n--b--\r\n"))
	assert.Equal(t, []int64{frame + 5, -1}, lengths)
	assert.Equal(t, []bool{false, true}, chunked)
}

// TestRecordWindows checks the windows Records asks for: at most 24 hours
// each, seconds neither skipped nor repeated, start inclusive and end
// exclusive.
func TestRecordWindows(t *testing.T) {
	w := newWechat(t)
	w.handle(msgRecordPath, answerWith(cannedAnswers[msgRecordPath]))
	c, err := NewClient(StaticToken("T0KEN"), WithBaseURL(w.URL))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	start := time.Unix(1_000_000_000, 500_000_000) // a fraction: the first whole second is the next
	for _, err := range c.Records(context.Background(), start, time.Unix(1_000_000_000+2*86400+10, 0)) {
		require.NoError(t, err)
	}
	var spans [][2]int64
	for i := range w.count(msgRecordPath) {
		var q struct{ StartTime, EndTime int64 }
		require.NoError(t, json.Unmarshal(w.body(msgRecordPath, i), &q))
		spans = append(spans, [2]int64{q.StartTime, q.EndTime})
	}
	assert.Equal(t, [][2]int64{
		{1_000_000_001, 1_000_000_001 + 86399},
		{1_000_000_001 + 86400, 1_000_000_001 + 2*86400 - 1},
		{1_000_000_001 + 2*86400, 1_000_000_000 + 2*86400 + 9},
	}, spans)
}
