package callback

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// WeChat's callback XML is flat: one root element whose children hold text
// or CDATA, and a few containers (ScanCodeInfo, SendLocationInfo) holding
// more of the same. scanXML walks it once and reports each leaf element by
// name; it neither builds a tree nor allocates for a value that is one run of
// text without entities or one CDATA section (the common case: the value is
// then an offset range into the input).

// maxDepth bounds nesting, so hostile input cannot exhaust the stack.
const maxDepth = 8

// xmlValue is a leaf element's text: the range [start, end) of the input
// when simple, else the decoded text.
type xmlValue struct {
	start, end int
	decoded    string
	simple     bool
}

// text returns v's text, slicing s (the input as a string) when simple.
func (v xmlValue) text(s string) string {
	if v.simple {
		return s[v.start:v.end]
	}
	return v.decoded
}

// bytes returns v's text as bytes of the input b when simple.
func (v xmlValue) bytes(b []byte) []byte {
	if v.simple {
		return b[v.start:v.end]
	}
	return []byte(v.decoded)
}

func (v xmlValue) writeTo(sb *strings.Builder, b []byte) {
	if v.simple {
		sb.Write(b[v.start:v.end])
	} else {
		sb.WriteString(v.decoded)
	}
}

type xmlScanner struct {
	b    []byte
	i    int
	leaf func(name []byte, v xmlValue) error
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// scanXML calls leaf for every element of b that holds no element.
func scanXML(b []byte, leaf func(name []byte, v xmlValue) error) error {
	s := xmlScanner{b: b, leaf: leaf}
	if err := s.prolog(); err != nil {
		return err
	}
	if s.i >= len(b) || b[s.i] != '<' {
		return malformed("the body is not XML")
	}
	name, empty, err := s.startTag()
	if err != nil {
		return err
	}
	if empty {
		return nil
	}
	return s.element(name, 1)
}

// prolog skips whitespace, the XML declaration and comments before the root.
func (s *xmlScanner) prolog() error {
	for {
		s.space()
		switch {
		case bytes.HasPrefix(s.b[s.i:], []byte("<?")):
			if err := s.skipPast("?>"); err != nil {
				return err
			}
		case bytes.HasPrefix(s.b[s.i:], []byte("<!--")):
			if err := s.skipPast("-->"); err != nil {
				return err
			}
		case bytes.HasPrefix(s.b[s.i:], []byte("<!")):
			return malformed("a DOCTYPE or declaration is not allowed")
		default:
			return nil
		}
	}
}

func (s *xmlScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

func (s *xmlScanner) skipPast(end string) error {
	j := bytes.Index(s.b[s.i:], []byte(end))
	if j < 0 {
		return malformed("unterminated %q", end)
	}
	s.i += j + len(end)
	return nil
}

// startTag reads "<name attr...>" or "<name .../>" at s.i and returns the
// name and whether the element is empty (self-closing).
func (s *xmlScanner) startTag() (name []byte, empty bool, err error) {
	s.i++ // '<'
	start := s.i
	for s.i < len(s.b) && isNameByte(s.b[s.i]) {
		s.i++
	}
	if s.i == start {
		return nil, false, malformed("an element without a name at byte %d", start)
	}
	name = s.b[start:s.i]
	j := bytes.IndexByte(s.b[s.i:], '>')
	if j < 0 {
		return nil, false, malformed("unterminated tag <%s", name)
	}
	s.i += j + 1
	return name, s.b[s.i-2] == '/', nil
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '_' || c == '-' || c == '.' || c == ':' || c >= 0x80
}

// content is what an element held so far: its text as one value (pieces
// of text and CDATA joined in sb when there are several), and whether it
// held elements.
type content struct {
	v        xmlValue
	parts    int
	children bool
	sb       strings.Builder
}

func (c *content) add(piece xmlValue, b []byte) {
	switch c.parts {
	case 0:
		c.v = piece
	case 1:
		c.v.writeTo(&c.sb, b)
		fallthrough
	default:
		piece.writeTo(&c.sb, b)
	}
	c.parts++
}

// value is the element's text.
func (c *content) value() xmlValue {
	if c.parts > 1 {
		return xmlValue{decoded: c.sb.String()}
	}
	return c.v
}

// element reads the content of the element name up to its end tag, then
// reports it to leaf when it held no element.
func (s *xmlScanner) element(name []byte, depth int) error {
	if depth > maxDepth {
		return malformed("elements nested deeper than %d", maxDepth)
	}
	c := content{v: xmlValue{start: s.i, end: s.i, simple: true}}
	for {
		if s.i >= len(s.b) {
			return malformed("<%s> is not closed", name)
		}
		var (
			done bool
			err  error
		)
		if s.b[s.i] == '<' {
			done, err = s.markup(name, depth, &c)
		} else {
			err = s.text(name, &c)
		}
		if done || err != nil {
			return err
		}
	}
}

// text reads a run of character data up to the next '<'.
func (s *xmlScanner) text(name []byte, c *content) error {
	start := s.i
	j := bytes.IndexByte(s.b[s.i:], '<')
	if j < 0 {
		return malformed("<%s> is not closed", name)
	}
	s.i += j
	raw := s.b[start:s.i]
	if bytes.IndexByte(raw, '&') < 0 {
		c.add(xmlValue{start: start, end: s.i, simple: true}, s.b)
		return nil
	}
	d, err := unescape(raw)
	if err != nil {
		return err
	}
	c.add(xmlValue{decoded: d}, s.b)
	return nil
}

// markup reads what starts with '<' inside name: CDATA, a comment, a
// processing instruction, a child element, or name's end tag (done).
func (s *xmlScanner) markup(name []byte, depth int, c *content) (done bool, err error) {
	rest := s.b[s.i:]
	switch {
	case bytes.HasPrefix(rest, []byte("<![CDATA[")):
		start := s.i + len("<![CDATA[")
		j := bytes.Index(s.b[start:], []byte("]]>"))
		if j < 0 {
			return false, malformed("unterminated CDATA in <%s>", name)
		}
		c.add(xmlValue{start: start, end: start + j, simple: true}, s.b)
		s.i = start + j + len("]]>")
		return false, nil
	case bytes.HasPrefix(rest, []byte("<!--")):
		return false, s.skipPast("-->")
	case bytes.HasPrefix(rest, []byte("</")):
		return true, s.endTag(name, c)
	case bytes.HasPrefix(rest, []byte("<?")):
		return false, s.skipPast("?>")
	case bytes.HasPrefix(rest, []byte("<!")):
		return false, malformed("a declaration inside <%s>", name)
	}
	child, empty, err := s.startTag()
	if err != nil {
		return false, err
	}
	c.children = true
	if empty {
		return false, s.leaf(child, xmlValue{start: s.i, end: s.i, simple: true})
	}
	return false, s.element(child, depth+1)
}

// endTag reads "</name>" and reports a leaf's value.
func (s *xmlScanner) endTag(name []byte, c *content) error {
	start := s.i + 2
	j := bytes.IndexByte(s.b[start:], '>')
	if j < 0 {
		return malformed("unterminated end tag in <%s>", name)
	}
	if !bytes.Equal(bytes.TrimRight(s.b[start:start+j], " \t\r\n"), name) {
		return malformed("<%s> closed by </%s>", name, s.b[start:start+j])
	}
	s.i = start + j + 1
	if c.children {
		return nil // a container: its leaves were reported
	}
	return s.leaf(name, c.value())
}

// unescape decodes XML's five named entities and character references.
func unescape(raw []byte) (string, error) {
	var sb strings.Builder
	sb.Grow(len(raw))
	for len(raw) > 0 {
		amp := bytes.IndexByte(raw, '&')
		if amp < 0 {
			sb.Write(raw)
			break
		}
		sb.Write(raw[:amp])
		raw = raw[amp:]
		semi := bytes.IndexByte(raw, ';')
		if semi < 0 {
			return "", malformed("unterminated entity")
		}
		ent := string(raw[1:semi])
		raw = raw[semi+1:]
		switch ent {
		case "lt":
			sb.WriteByte('<')
		case "gt":
			sb.WriteByte('>')
		case "amp":
			sb.WriteByte('&')
		case "apos":
			sb.WriteByte('\'')
		case "quot":
			sb.WriteByte('"')
		default:
			r, err := charRef(ent)
			if err != nil {
				return "", err
			}
			sb.WriteRune(r)
		}
	}
	return sb.String(), nil
}

func charRef(ent string) (rune, error) {
	var (
		n   uint64
		err error
	)
	switch {
	case strings.HasPrefix(ent, "#x"):
		n, err = strconv.ParseUint(ent[2:], 16, 32)
	case strings.HasPrefix(ent, "#"):
		n, err = strconv.ParseUint(ent[1:], 10, 32)
	default:
		return 0, malformed("unknown entity &%s;", ent)
	}
	if err != nil || n > utf8.MaxRune {
		return 0, malformed("bad character reference &%s;", ent)
	}
	return rune(n), nil
}
