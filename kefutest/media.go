package kefutest

import "slices"

// MediaKind is the kind of id AddMedia registers: what a message may name
// it as. It is kefutest's own type, wider than kefu.MediaKind (the kinds of
// an upload): it also has drafts, published articles and cards.
type MediaKind string

// The media kinds AddMedia registers, and what each is for.
const (
	MediaImage   MediaKind = "image"   // image.media_id; also accepted as a thumbnail
	MediaVoice   MediaKind = "voice"   // voice.media_id
	MediaVideo   MediaKind = "video"   // video.media_id
	MediaThumb   MediaKind = "thumb"   // video, music and miniprogrampage thumb_media_id
	MediaMPNews  MediaKind = "mpnews"  // mpnews.media_id (a draft)
	MediaArticle MediaKind = "article" // mpnewsarticle.article_id (a published article)
	MediaCard    MediaKind = "card"    // wxcard.card_id
)

// allMediaKinds are the media kinds, in the order of the constants.
var allMediaKinds = []MediaKind{MediaImage, MediaVoice, MediaVideo, MediaThumb, MediaMPNews, MediaArticle, MediaCard}

// AddMedia registers mediaID as an id of kind (one of the Media constants:
// "image", "voice", "video", "thumb", "mpnews", "article", "card"), as an
// upload, a publish or a card creation would. Messages must name ids of the
// right kind: an unknown id, or one of another kind, answers 40007.
// Registered ids never expire. Registering an id again changes its kind. An
// unknown kind or an empty id panics.
func (s *Server) AddMedia(kind MediaKind, mediaID string) {
	if !slices.Contains(allMediaKinds, kind) {
		panic("kefutest: AddMedia: unknown media kind " + string(kind))
	}
	if mediaID == "" {
		panic("kefutest: AddMedia: empty media id")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.media[mediaID] = kind
	delete(s.mg.expires, mediaID)
}

// mediaIs reports whether id is registered as one of kinds. s.mu must be held.
func (s *Server) mediaIs(id string, kinds ...MediaKind) bool {
	k, ok := s.media[id]
	if !ok || s.uploadExpired(id) {
		return false
	}
	for _, want := range kinds {
		if k == want {
			return true
		}
	}
	return false
}

// thumbOK reports whether id may be a thumbnail: a thumb or an image.
func (s *Server) thumbOK(id string) bool { return s.mediaIs(id, MediaThumb, MediaImage) }
