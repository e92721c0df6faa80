package kefutest

// The media kinds AddMedia registers, and what each is for.
const (
	MediaImage   = "image"   // image.media_id; also accepted as a thumbnail
	MediaVoice   = "voice"   // voice.media_id
	MediaVideo   = "video"   // video.media_id
	MediaThumb   = "thumb"   // video, music and miniprogrampage thumb_media_id
	MediaMPNews  = "mpnews"  // mpnews.media_id (a draft)
	MediaArticle = "article" // mpnewsarticle.article_id (a published article)
	MediaCard    = "card"    // wxcard.card_id
)

// AddMedia registers mediaID as an id of kind (one of the Media constants:
// "image", "voice", "video", "thumb", "mpnews", "article", "card"), as an
// upload, a publish or a card creation would. Messages must name ids of the
// right kind: an unknown id, or one of another kind, answers 40007.
// Registered ids never expire. Registering an id again changes its kind. An
// unknown kind or an empty id panics.
func (s *Server) AddMedia(kind, mediaID string) {
	switch kind {
	case MediaImage, MediaVoice, MediaVideo, MediaThumb, MediaMPNews, MediaArticle, MediaCard:
	default:
		panic("kefutest: AddMedia: unknown media kind " + kind)
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
func (s *Server) mediaIs(id string, kinds ...string) bool {
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
