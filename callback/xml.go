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

// element reads the content of the element name up to its end tag, then
// reports it to leaf when it held no element.
func (s *xmlScanner) element(name []byte, depth int) error {
	if depth > maxDepth {
		return malformed("elements nested deeper than %d", maxDepth)
	}
	var (
		v        = xmlValue{start: s.i, end: s.i, simple: true}
		parts    int  // runs of text or CDATA seen
		children bool // held an element
		sb       strings.Builder
	)
	add := func(piece xmlValue) {
		switch parts {
		case 0:
			v = piece
		case 1:
			v.writeTo(&sb, s.b)
			fallthrough
		default:
			piece.writeTo(&sb, s.b)
		}
		parts++
	}
	for {
		if s.i >= len(s.b) {
			return malformed("<%s> is not closed", name)
		}
		if s.b[s.i] != '<' {
			start := s.i
			j := bytes.IndexByte(s.b[s.i:], '<')
			if j < 0 {
				return malformed("<%s> is not closed", name)
			}
			s.i += j
			raw := s.b[start:s.i]
			if bytes.IndexByte(raw, '&') < 0 {
				add(xmlValue{start: start, end: s.i, simple: true})
			} else {
				d, err := unescape(raw)
				if err != nil {
					return err
				}
				add(xmlValue{decoded: d})
			}
			continue
		}
		rest := s.b[s.i:]
		switch {
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			start := s.i + len("<![CDATA[")
			j := bytes.Index(s.b[start:], []byte("]]>"))
			if j < 0 {
				return malformed("unterminated CDATA in <%s>", name)
			}
			add(xmlValue{start: start, end: start + j, simple: true})
			s.i = start + j + len("]]>")
		case bytes.HasPrefix(rest, []byte("<!--")):
			if err := s.skipPast("-->"); err != nil {
				return err
			}
		case bytes.HasPrefix(rest, []byte("</")):
			return s.endTag(name, v, parts, children, &sb)
		case bytes.HasPrefix(rest, []byte("<?")):
			if err := s.skipPast("?>"); err != nil {
				return err
			}
		case bytes.HasPrefix(rest, []byte("<!")):
			return malformed("a declaration inside <%s>", name)
		default:
			child, empty, err := s.startTag()
			if err != nil {
				return err
			}
			children = true
			if empty {
				if err := s.leaf(child, xmlValue{start: s.i, end: s.i, simple: true}); err != nil {
					return err
				}
				continue
			}
			if err := s.element(child, depth+1); err != nil {
				return err
			}
		}
	}
}

// endTag reads "</name>" and reports a leaf's value.
func (s *xmlScanner) endTag(name []byte, v xmlValue, parts int, children bool, sb *strings.Builder) error {
	start := s.i + 2
	j := bytes.IndexByte(s.b[start:], '>')
	if j < 0 {
		return malformed("unterminated end tag in <%s>", name)
	}
	if !bytes.Equal(bytes.TrimRight(s.b[start:start+j], " \t\r\n"), name) {
		return malformed("<%s> closed by </%s>", name, s.b[start:start+j])
	}
	s.i = start + j + 1
	if children {
		return nil // a container: its leaves were reported
	}
	if parts > 1 {
		v = xmlValue{decoded: sb.String()}
	}
	return s.leaf(name, v)
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
