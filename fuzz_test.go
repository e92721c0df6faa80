package kefu

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// goldenSeeds returns the contents of every golden file.
func goldenSeeds(f *testing.F) [][]byte {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	require.NoError(f, err)
	require.NotEmpty(f, files, "no golden files: run go test -run Golden -update .")
	var out [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		require.NoError(f, err)
		out = append(out, b)
	}
	return out
}

// checkValidationError asserts the shape of every error Validate returns.
func checkValidationError(t *testing.T, err error) {
	t.Helper()
	require.ErrorIs(t, err, ErrInvalidMessage)
	all := validationErrors(t, err)
	require.NotEmpty(t, all)
	for _, e := range all {
		require.NotEmpty(t, e.Field)
		require.NotEmpty(t, e.Rule)
	}
}

// checkWire asserts, for both encoders, what must hold of the wire bytes of
// a valid message m: one compact JSON value in UTF-8 without HTML escapes
// (WeChat's 40033; other \u escapes, of control characters say, are fine)
// that decodes to m and encodes again to the same bytes.
func checkWire(t *testing.T, m *Message) {
	t.Helper()
	for _, e := range encoders {
		w := e.encode(m)
		require.True(t, json.Valid(w), "%s: not JSON: %q", e.name, w)
		require.True(t, utf8.Valid(w), "%s: not UTF-8: %q", e.name, w)
		require.False(t, hasHTMLEscape(w), "%s: HTML-escaped: %q", e.name, w)
		require.False(t, bytes.HasSuffix(w, []byte("\n")), "%s: trailing newline: %q", e.name, w)
		var m2 Message
		require.NoError(t, json.Unmarshal(w, &m2), "%s: %q", e.name, w)
		require.Equal(t, m, &m2, "%s: decoding the wire bytes gave another message: %q", e.name, w)
		require.NoError(t, m2.Validate(), "%s", e.name)
		require.Equal(t, string(w), string(e.encode(&m2)), "%s: not stable", e.name)
	}
}

// FuzzMessageRoundTrip decodes arbitrary bytes into a Message. Validate must
// not panic nor change it; a valid message must pass checkWire: wire(m),
// decoded and encoded again, gives identical bytes (and so for sendWire).
func FuzzMessageRoundTrip(f *testing.F) {
	for _, g := range goldenSeeds(f) {
		f.Add(g)
	}
	f.Add([]byte(`null`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"touser":"a","msgtype":"text","text":{"content":"\u003ca href=\"x?a=1\u0026b=2\"\u003e\u2028\ud800\\u003c"}}`))
	f.Add([]byte(`{"TOUSER":"a","MsgType":"text","text":{"content":"x"},"Text":{"content":"y"},"aimsgcontext":{"is_ai_msg":1}}`))
	f.Add([]byte(`{"touser":"a","msgtype":"msgmenu","msgmenu":{"list":[{"id":"1","content":"a"},{"id":"1","content":"b"}]}}`))
	f.Add([]byte(`{"touser":"a","msgtype":"news","news":{"articles":[{"title":"t","url":"http://h/"},{"title":"t","url":"ftp://h/"}]}}`))
	f.Add([]byte(`{"touser":"a","msgtype":"text","text":{"content":"x"},"image":null,"customservice":{"kf_account":"a@b"},"aimsgcontext":{"is_ai_msg":2}}`))
	f.Add([]byte("{\"touser\":\"a\xff\",\"msgtype\":\"text\",\"text\":{\"content\":\"\xc3\x28\"}}"))

	f.Fuzz(func(t *testing.T, data []byte) {
		var m Message
		if json.Unmarshal(data, &m) != nil {
			return
		}
		before := deepCopy(m)
		err := m.Validate()
		require.Equal(t, before, m, "Validate changed the message")
		if err != nil {
			checkValidationError(t, err)
			return
		}
		checkWire(t, &m)
	})
}

// fieldsOf returns the body string fields of type typ, in stringFields order.
func fieldsOf(typ MsgType) []stringField {
	var out []stringField
	for _, f := range stringFields {
		if f.typ == typ {
			out = append(out, f)
		}
	}
	return out
}

// Bits of FuzzValidate's flags above the four 3-bit field selectors.
const (
	fuzzSetKf        = 1 << 12 // set customservice.kf_account to kf
	fuzzSetAI        = 1 << 13 // set aimsgcontext.is_ai_msg to ai
	fuzzSecondBody   = 1 << 14 // add a body msgtype does not name
	fuzzSecondMember = 1 << 15 // add a second article or menu item
)

// fuzzMessage builds a message from fuzzed values: a valid message of type
// knownTypes[kind%12] whose touser is to and four of whose body strings are
// s0..s3 (field i chosen by bits 3i..3i+2 of flags), changed further by the
// fuzz* flags; kind >= 240 also sets msgtype to s0.
func fuzzMessage(kind uint8, to, s0, s1, s2, s3, kf string, flags uint16, ai int) *Message {
	typ := knownTypes[int(kind)%len(knownTypes)]
	m := validMessage(typ)
	m.ToUser = to
	fs := fieldsOf(typ)
	for i, s := range []string{s0, s1, s2, s3} {
		sel := int(flags>>(3*i)) & 7
		fs[sel%len(fs)].set(m, s)
	}
	if flags&fuzzSetKf != 0 {
		m.CustomService = &CustomService{KfAccount: kf}
	}
	if flags&fuzzSetAI != 0 {
		m.AIMsgContext = &AIMsgContext{IsAIMsg: ai}
	}
	if flags&fuzzSecondBody != 0 {
		if typ == TypeText {
			m.Image = &Media{MediaID: s1}
		} else {
			m.Text = &Text{Content: s1}
		}
	}
	if flags&fuzzSecondMember != 0 {
		switch typ {
		case TypeNews:
			m.News.Articles = append(m.News.Articles, Article{Title: s1, URL: s2, PicURL: s3})
		case TypeMsgMenu:
			m.MsgMenu.List = append(m.MsgMenu.List, MenuItem{ID: s2, Content: s3})
		}
	}
	if kind >= 240 {
		m.MsgType = MsgType(s0)
	}
	return m
}

// lookupPath returns the string at a stringField path ("a.b[0].c") in the
// decoded JSON v, or "".
func lookupPath(v any, path string) string {
	for _, part := range strings.Split(path, ".") {
		name, idx, isIndex := strings.Cut(strings.TrimSuffix(part, "]"), "[")
		obj, _ := v.(map[string]any)
		v = obj[name]
		if isIndex {
			i, _ := strconv.Atoi(idx)
			arr, _ := v.([]any)
			if i >= len(arr) {
				return ""
			}
			v = arr[i]
		}
	}
	s, _ := v.(string)
	return s
}

// FuzzValidate builds messages from fuzzed strings across their fields.
// Validate must not panic, must not change the message, must answer the same
// twice, and must return only ValidationErrors; a valid message must pass
// checkWire: UTF-8 JSON without HTML escapes, decoding back to the same
// message (so Validate let no invalid UTF-8 through).
func FuzzValidate(f *testing.F) {
	// The golden files, as inputs of fuzzMessage: field i of each body gets
	// the golden's value of that field.
	for _, g := range goldenSeeds(f) {
		var m Message
		require.NoError(f, json.Unmarshal(g, &m))
		var doc any
		require.NoError(f, json.Unmarshal(g, &doc))
		kind := -1
		for i, t := range knownTypes {
			if t == m.MsgType {
				kind = i
			}
		}
		require.GreaterOrEqual(f, kind, 0, "golden of unknown type %q", m.MsgType)
		fs := fieldsOf(m.MsgType)
		var s [4]string
		for i := range s {
			s[i] = lookupPath(doc, fs[i%len(fs)].path)
		}
		flags := uint16(0 | 1<<3 | 2<<6 | 3<<9)
		kf, ai := "", 0
		if m.CustomService != nil {
			flags |= fuzzSetKf
			kf = m.CustomService.KfAccount
		}
		if m.AIMsgContext != nil {
			flags |= fuzzSetAI
			ai = m.AIMsgContext.IsAIMsg
		}
		f.Add(uint8(kind), m.ToUser, s[0], s[1], s[2], s[3], kf, flags, ai)
	}
	// Edge cases.
	f.Add(uint8(0), "", "", "", "", "", "", uint16(0), 0)
	f.Add(uint8(0), "o\xff", "\xff", "<a href=\"x?a=1&b=2\">x</a>", "\\u003c", "\u2028\x00", "a@", uint16(0xffff), 2)
	f.Add(uint8(5), "OPENID", "t", "d", "https://a.example/?a=1&b=2", "http://b.example/p.png", "toolongprefix1@x", uint16(0|1<<3|2<<6|3<<9|fuzzSecondMember), 1)
	f.Add(uint8(8), "OPENID", "h", "101", "满意", "尾", "a@b", uint16(0|1<<3|2<<6|3<<9|fuzzSecondMember|fuzzSetKf), 0)
	f.Add(uint8(250), "OPENID", "location", "x", "y", "z", "", uint16(0), 0)
	f.Add(uint8(251), "OPENID", "link", "x", "y", "z", "", uint16(fuzzSecondBody), -1)

	f.Fuzz(func(t *testing.T, kind uint8, to, s0, s1, s2, s3, kf string, flags uint16, ai int) {
		m := fuzzMessage(kind, to, s0, s1, s2, s3, kf, flags, ai)
		before := deepCopy(m)
		err := m.Validate()
		require.Equal(t, before, m, "Validate changed the message")
		err2 := m.Validate()
		if err != nil {
			require.Error(t, err2)
			require.Equal(t, err.Error(), err2.Error(), "Validate is not deterministic")
			checkValidationError(t, err)
			return
		}
		require.NoError(t, err2)
		checkWire(t, m)
	})
}
