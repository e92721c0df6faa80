package kefutest_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu/kefutest"
)

func TestUploadChecks(t *testing.T) {
	t.Parallel()
	srv, m := newMgmt(t)
	up := func(query, field, name string, size int) int {
		t.Helper()
		return errcode(m.upload(kefutest.PathMediaUpload, query, field, name, make([]byte, size)))
	}
	assert.Equal(t, 40004, up("", "media", "a.jpg", 1), "no type")
	assert.Equal(t, 40004, up("type=gif", "media", "a.jpg", 1))
	assert.Equal(t, 41005, up("type=image", "file", "a.jpg", 1), "no media part")
	assert.Equal(t, 41005, errcode(m.call(http.MethodPost, kefutest.PathMediaUpload, "type=image", "application/json", strings.NewReader(`{}`))), "not multipart")
	assert.Equal(t, 40005, up("type=image", "media", "a.bmp", 1))
	assert.Equal(t, 40005, up("type=thumb", "media", "a.png", 1))
	assert.Equal(t, 40005, up("type=video", "media", "a.jpg", 1))
	assert.Equal(t, 40009, up("type=image", "media", "a.jpg", 2<<20+1))
	assert.Equal(t, 40009, up("type=thumb", "media", "a.jpg", 64<<10+1))
	assert.Equal(t, 40006, up("type=voice", "media", "a.mp3", 2<<20+1))
	assert.Equal(t, 40006, up("type=voice", "media", "a.mp3", 0), "empty")
	assert.Equal(t, 0, up("type=video", "media", "a.MP4", 10<<20))

	a := m.upload(kefutest.PathMediaUpload, "type=thumb", "media", "t.jpeg", []byte("jpeg"))
	assert.Equal(t, "thumb", a["type"])
	assert.Nil(t, a["media_id"], "a thumb comes back as thumb_media_id")
	id, _ := a["thumb_media_id"].(string)
	assert.Len(t, id, 64)
	assert.EqualValues(t, start.Unix(), a["created_at"])
	u, ok := srv.Uploaded(id)
	require.True(t, ok)
	assert.Equal(t, kefutest.Upload{Path: kefutest.PathMediaUpload, Kind: "thumb", Filename: "t.jpeg", Size: 4,
		SHA256: u.SHA256, Created: start}, u)

	var tooBig bytes.Buffer
	mw := multipart.NewWriter(&tooBig)
	fw, _ := mw.CreateFormFile("media", "a.mp4")
	fw.Write(make([]byte, 21<<20))
	mw.Close()
	assert.Equal(t, 45001, errcode(m.call(http.MethodPost, kefutest.PathMediaUpload, "type=video", mw.FormDataContentType(), &tooBig)))
	assert.Equal(t, 14, srv.Calls(kefutest.PathMediaUpload))

	assert.Equal(t, 41001, m.post(kefutest.PathMediaUpload+"?type=image", "", "").ErrCode, "no token")
}

func TestUploadImageAndAvatarChecks(t *testing.T) {
	t.Parallel()
	srv, m := newMgmt(t)
	a := m.upload(kefutest.PathUploadImg, "", "media", "a.png", []byte("png"))
	assert.Regexp(t, `^http://mmbiz\.qpic\.cn/mmbiz_png/[0-9a-f]{48}/0\?wx_fmt=png$`, a["url"])
	assert.Equal(t, 40005, errcode(m.upload(kefutest.PathUploadImg, "", "media", "a.gif", []byte("gif"))))
	assert.Equal(t, 40009, errcode(m.upload(kefutest.PathUploadImg, "", "media", "a.jpg", make([]byte, 1<<20))))

	assert.Equal(t, 65401, errcode(m.upload(kefutest.PathAccountAvatar, "kf_account=kf1@test", "media", "a.jpg", []byte("x"))))
	srv.AddAccount("kf1@test", "one")
	assert.Equal(t, 61457, errcode(m.upload(kefutest.PathAccountAvatar, "kf_account=kf1@test", "media", "a.gif", []byte("x"))))
	assert.Equal(t, 40009, errcode(m.upload(kefutest.PathAccountAvatar, "kf_account=kf1@test", "media", "a.jpg", make([]byte, 5<<20+1))))
	assert.Equal(t, 0, errcode(m.upload(kefutest.PathAccountAvatar, "kf_account=kf1@test", "media", "a.jpg", []byte("x"))))
	list := m.get(kefutest.PathAccounts, "")["kf_list"].([]any)
	assert.Regexp(t, `^http://mmbiz\.qpic\.cn/mmbiz_jpeg/[0-9a-f]{48}/300\?wx_fmt=jpeg$`, list[0].(map[string]any)["kf_headimgurl"])
}
