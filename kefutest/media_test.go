package kefutest_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

func TestMediaKinds(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Interact("alice", kefutest.Payment)
	for kind, id := range map[kefutest.MediaKind]string{
		kefutest.MediaImage: "img", kefutest.MediaVoice: "voc", kefutest.MediaVideo: "vid",
		kefutest.MediaThumb: "thm", kefutest.MediaMPNews: "mpn", kefutest.MediaArticle: "art",
		kefutest.MediaCard: "crd",
	} {
		srv.AddMedia(kind, id)
	}
	assert.Panics(t, func() { srv.AddMedia("gif", "x") })
	assert.Panics(t, func() { srv.AddMedia(kefutest.MediaImage, "") })

	mp := func(thumb string) *kefu.Message {
		return kefu.NewMiniProgramPage("alice", kefu.MiniProgramPage{Title: "t", PagePath: "p", ThumbMediaID: thumb})
	}
	music := func(thumb string) *kefu.Message {
		return kefu.NewMusic("alice", kefu.Music{Title: "m", ThumbMediaID: thumb})
	}
	cases := []struct {
		name string
		m    *kefu.Message
		code int
	}{
		{"image", kefu.NewImage("alice", "img"), 0},
		{"image as voice", kefu.NewVoice("alice", "img"), 40007},
		{"voice", kefu.NewVoice("alice", "voc"), 0},
		{"voice as image", kefu.NewImage("alice", "voc"), 40007},
		{"video", kefu.NewVideo("alice", kefu.Video{MediaID: "vid"}), 0},
		{"video with thumb", kefu.NewVideo("alice", kefu.Video{MediaID: "vid", ThumbMediaID: "thm"}), 0},
		{"video with image thumb", kefu.NewVideo("alice", kefu.Video{MediaID: "vid", ThumbMediaID: "img"}), 0},
		{"video with voice thumb", kefu.NewVideo("alice", kefu.Video{MediaID: "vid", ThumbMediaID: "voc"}), 40007},
		{"video with unknown thumb", kefu.NewVideo("alice", kefu.Video{MediaID: "vid", ThumbMediaID: "zz"}), 40007},
		{"thumb as video", kefu.NewVideo("alice", kefu.Video{MediaID: "thm"}), 40007},
		{"music with thumb", music("thm"), 0},
		{"music with image thumb", music("img"), 0},
		{"music with video thumb", music("vid"), 40007},
		{"mpnews", kefu.NewMPNews("alice", "mpn"), 0},
		{"article id as mpnews", kefu.NewMPNews("alice", "art"), 40007},
		{"mpnewsarticle", kefu.NewMPNewsArticle("alice", "art"), 0},
		{"media id as article", kefu.NewMPNewsArticle("alice", "mpn"), 40007},
		{"wxcard", kefu.NewWxCard("alice", "crd"), 0},
		{"unknown card", kefu.NewWxCard("alice", "zz"), 40007},
		{"miniprogrampage", mp("thm"), 0},
		{"miniprogrampage image thumb", mp("img"), 0},
		{"miniprogrampage card thumb", mp("crd"), 40007},
		{"unknown image", kefu.NewImage("alice", "zz"), 40007},
	}
	c := srv.Client()
	want := 0
	for _, tc := range cases {
		_, err := c.Send(context.Background(), tc.m)
		if tc.code == 0 {
			assert.NoError(t, err, tc.name)
			want++
			continue
		}
		assert.Equal(t, tc.code, codeOf(t, err), tc.name)
		assert.ErrorIs(t, err, kefu.ErrInvalidMedia, tc.name)
	}
	assert.Len(t, srv.Messages("alice"), want)

	// AddMedia again changes the kind.
	srv.AddMedia(kefutest.MediaVoice, "img")
	_, err := c.Send(context.Background(), kefu.NewVoice("alice", "img"))
	assert.NoError(t, err)
}
