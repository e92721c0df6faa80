package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
)

func TestUpload(t *testing.T) {
	t.Parallel()
	f := startFake(t, "--user", "o1")
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		t.Helper()
		file := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(file, data, 0o600))
		return file
	}
	png := write("photo.png", append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 1000)...))
	mediaID := regexp.MustCompile(`^\S+\n$`)
	expiry := regexp.MustCompile(`^uploaded \S+ as (image|thumb); WeChat keeps it until \d{4}-\d\d-\d\dT\S+\n$`)

	// The id alone on stdout, as MEDIA=$(kefu upload ...) wants it.
	r := f.kefu(t, "", "upload", "--kind", "image", png)
	require.Equal(t, 0, r.code, r)
	require.Regexp(t, mediaID, r.stdout)
	assert.Regexp(t, expiry, r.stderr)
	id := strings.TrimSuffix(r.stdout, "\n")

	msg := `{"msgtype":"image","image":{"media_id":"` + id + `"}}`
	assert.Equal(t, result{stdout: "ok\n"}, f.kefu(t, msg, "send", "--to", "o1", "--file", "-"))
	status, body := f.admin(t, http.MethodGet, "/kefutest/messages?openid=o1", "")
	require.Equal(t, http.StatusOK, status, body)
	var got []kefu.Message
	require.NoError(t, json.Unmarshal([]byte(body), &got), body)
	require.Len(t, got, 1)
	assert.Equal(t, id, got[0].Image.MediaID)

	t.Run("flags after the file, thumb in a music message", func(t *testing.T) {
		jpg := write("cover.JPG", []byte("\xff\xd8\xff thumbnail"))
		r := f.kefu(t, "", "upload", jpg, "--kind", "thumb")
		require.Equal(t, 0, r.code, r)
		require.Regexp(t, mediaID, r.stdout)
		msg := `{"msgtype":"music","music":{"title":"t","thumb_media_id":"` + strings.TrimSpace(r.stdout) + `"}}`
		assert.Equal(t, result{stdout: "ok\n"}, f.kefu(t, msg, "send", "--to", "o1", "--file", "-"))
	})
	t.Run("stdin with --name", func(t *testing.T) {
		r := f.kefu(t, "GIF89a not really", "upload", "--kind", "image", "--name", "anim.gif", "-")
		require.Equal(t, 0, r.code, r)
		require.Regexp(t, mediaID, r.stdout)
		assert.Regexp(t, `^uploaded stdin \(as anim.gif\) as image; `, r.stderr)
	})
	t.Run("--json", func(t *testing.T) {
		r := f.kefu(t, "", "upload", "--kind", "image", "--json", png)
		require.Equal(t, 0, r.code, r)
		assert.Empty(t, r.stderr, r)
		var got map[string]string
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &got), r)
		assert.Len(t, got, 4, r)
		assert.NotEmpty(t, got["media_id"], r)
		assert.Equal(t, "image", got["type"], r)
		created, err := time.Parse(time.RFC3339, got["created_at"])
		require.NoError(t, err, r)
		assert.WithinDuration(t, time.Now(), created, time.Minute)
		assert.Equal(t, created.Add(72*time.Hour).Format(time.RFC3339), got["expires_at"], r)
	})
	t.Run("a text file is refused locally", func(t *testing.T) {
		txt := write("notes.txt", []byte("not an image"))
		want := "kefu upload: " + txt + ": file type must be one of .png, .jpeg, .jpg, .gif (by the filename's extension); nothing was uploaded\n"
		r := f.kefu(t, "", "upload", "--kind", "image", txt)
		assert.Equal(t, result{code: 4, stderr: want}, r)
		// Nothing listens there: the refusal never reached the network.
		r = kefuRun(t, "", f.env(), []string{f.Secret}, "upload", "--base-url", closedURL(t), "--kind", "image", txt)
		assert.Equal(t, result{code: 4, stderr: want}, r)
		// --name decides the type.
		r = f.kefu(t, "", "upload", "--kind", "voice", "--name", "song.wav", png)
		assert.Equal(t, 4, r.code, r)
		assert.Contains(t, r.stderr, "kefu upload: "+png+" (as song.wav): file type must be one of .amr, .mp3", r)
	})
	t.Run("too large, empty, missing, directory", func(t *testing.T) {
		big := write("big.jpg", make([]byte, 64<<10+1))
		r := f.kefu(t, "", "upload", "--kind", "thumb", big)
		assert.Equal(t, result{code: 4, stderr: "kefu upload: " + big + ": 65537 bytes: must be at most 64 KB; nothing was uploaded\n"}, r)
		empty := write("empty.png", nil)
		r = f.kefu(t, "", "upload", "--kind", "image", empty)
		assert.Equal(t, result{code: 4, stderr: "kefu upload: " + empty + ": must not be empty; nothing was uploaded\n"}, r)
		r = f.kefu(t, "", "upload", "--kind", "image", filepath.Join(dir, "missing.png"))
		assert.Equal(t, 4, r.code, r)
		assert.Contains(t, r.stderr, "no such file", r)
		r = f.kefu(t, "", "upload", "--kind", "image", dir)
		assert.Equal(t, result{code: 4, stderr: "kefu upload: " + dir + " is a directory, not a file\n"}, r)
	})
	t.Run("refused by WeChat", func(t *testing.T) {
		r := f.kefu(t, "", "upload", "--kind", "image", "--name", "x.png", "-") // empty stdin: size unknown
		assert.Equal(t, 1, r.code, r)
		assert.Empty(t, r.stdout, r)
		assert.Contains(t, r.stderr, "kefu upload: errcode 40009: invalid image size (rid ", r)
		assert.Contains(t, r.stderr, "see kefu help upload", r)
	})
	t.Run("bad secret", func(t *testing.T) {
		const wrong = "a-wrong-upload-secret"
		r := kefuRun(t, "", []string{"KEFU_APPID=" + f.AppID}, []string{wrong, f.Secret},
			"upload", "--base-url", f.URL, "--secret", wrong, "--kind", "image", png)
		assert.Equal(t, 4, r.code, r)
		assert.Contains(t, r.stderr, "kefu upload: errcode 40125", r)
	})
}

func TestUploadUsageErrors(t *testing.T) {
	t.Parallel()
	creds := usageCreds()
	testUsageErrors(t, []usageCase{
		{args: []string{"upload", "photo.png"}, env: creds, want: "--kind is required: image, voice, video or thumb"},
		{args: []string{"upload", "--kind", "photo", "photo.png"}, env: creds, want: `--kind "photo": want image, voice, video or thumb`},
		{args: []string{"upload", "--kind", "image"}, env: creds, want: "no file to upload: give FILE, or - and --name"},
		{args: []string{"upload", "--kind", "image", "-"}, env: creds, stdin: "x", want: "--name is required with -"},
		{args: []string{"upload", "--kind", "image", "a.png", "b.png"}, env: creds, want: `unexpected argument "b.png"`},
	})
}

func TestUploadHelp(t *testing.T) {
	t.Parallel()
	r := kefuRun(t, "", nil, nil, "help", "upload")
	for _, want := range []string{"image  .png .jpeg .jpg .gif   2 MB", "thumb  .jpg .jpeg             64 KB", "--name", "-kind KIND", "kefu upload --kind KIND FILE"} {
		assert.Contains(t, r.stdout, want)
	}
}
