package kefu

import "strconv"

// News is the body of a news (图文) message: a card that opens an external URL.
// WeChat accepts exactly one article since 2018-10-12 (more: 45008).
type News struct {
	Articles []Article `json:"articles"`
}

// Article is the one card of a News message.
type Article struct {
	Title       string `json:"title"` // required
	Description string `json:"description,omitempty"`
	URL         string `json:"url"`              // required, absolute http(s)
	PicURL      string `json:"picurl,omitempty"` // http(s) when set; JPG or PNG, 640x320 or 80x80
}

// MPNewsArticle is the body of an mpnewsarticle message: a published article
// by the article_id the publish (发布) API returned.
type MPNewsArticle struct {
	ArticleID string `json:"article_id"` // required
}

// NewNews returns a news message. WeChat accepts exactly one article: Validate
// (and so Send) rejects more with a ValidationError instead of a 45008 answer.
// The articles are copied.
func NewNews(to string, articles ...Article) *Message {
	return newMessage(to, TypeNews, &News{Articles: append([]Article(nil), articles...)})
}

// NewMPNewsArticle returns a message showing the published article articleID.
func NewMPNewsArticle(to, articleID string) *Message {
	return newMessage(to, TypeMPNewsArticle, &MPNewsArticle{ArticleID: articleID})
}

func (n *News) problems() []error {
	var v validator
	switch len(n.Articles) {
	case 0:
		v.add("news.articles", "must have exactly one article")
	case 1:
	default:
		v.add("news.articles", "must have exactly one article: WeChat rejects more with 45008 since 2018-10-12 (got "+
			strconv.Itoa(len(n.Articles))+")")
	}
	for i, a := range n.Articles {
		p := "news.articles[" + strconv.Itoa(i) + "]"
		v.required(p+".title", a.Title)
		v.utf8(p+".description", a.Description)
		v.requiredURL(p+".url", a.URL)
		v.optionalURL(p+".picurl", a.PicURL)
	}
	return v.errs
}

func (b *MPNewsArticle) problems() []error {
	return requiredField("mpnewsarticle.article_id", b.ArticleID)
}
