package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kefu-go/kefu"
)

// sendHelp is the help of "kefu send", after its usage line.
const sendHelp = `  kefu send --to OPENID --text "您好"
  kefu send --file FILE          a kefu.Message as JSON, any type; "-" reads stdin
  kefu send --to OPENID --file - <<<'{"msgtype":"image","image":{"media_id":"MEDIA_ID"}}'
  kefu send --json --to OPENID --text hi     prints {"msgid":N} (0 when WeChat gives none)

The recipient is --to, else the "touser" of the file. --from sends as a
customer-service account. Prints "ok" when WeChat accepted the message.
WeChat allows messages only after the user acted (5 in 48 h after the user
writes): outside that window it answers 45015, past the quota 45047.
`

// sendCommand is "kefu send": one message, as text or as JSON.
func sendCommand(e *env, api *apiFlags) *cobra.Command {
	// One argument is taken only to say what to do with "--json FILE",
	// once the way to send a file.
	return newCommand(e, "send", "send one customer-service message", sendHelp, maxArgs(1), &sendRun{api: api})
}

// define defines kefu send's flags on fs.
func (s *sendRun) define(fs *pflag.FlagSet) {
	s.fs = fs // tells whether --text was given
	fs.StringVar(&s.to, "to", "", "the user's `OPENID`")
	fs.StringVar(&s.text, "text", "", "send a text message with this content (may hold <a href> links)")
	fs.StringVar(&s.file, "file", "", "send the message in `FILE` (JSON, as WeChat's API takes it); - reads stdin")
	fs.StringVar(&s.from, "from", "", "send as this customer-service account, e.g. kf01@account")
}

// sendRun is a run of kefu send: the flags it was given.
type sendRun struct {
	api                  *apiFlags
	fs                   *pflag.FlagSet // tells whether --text was given
	to, text, file, from string
}

// sent is what send --json prints.
type sent struct {
	MsgID int64 `json:"msgid"`
}

// run sends the message the flags give and prints "ok", or with --json
// its msgid.
func (s *sendRun) run(ctx context.Context, e *env, args []string) error {
	textSet := s.fs.Changed("text")
	switch {
	case len(args) > 0:
		return usagef("unexpected argument %q: to send a message in a file, use --file %s (--json prints the result as JSON)", args[0], args[0])
	case textSet && s.file != "":
		return usagef("give --text or --file, not both")
	case !textSet && s.file == "":
		return usagef("nothing to send: give --text or --file")
	case textSet && s.to == "":
		return usagef("--to is required with --text")
	}
	if err := s.api.resolve(e); err != nil {
		return err
	}
	m, err := s.message(e.stdin)
	if err != nil {
		return err
	}
	return s.api.call(ctx, func(ctx context.Context, client *kefu.Client) error {
		resp, err := client.Send(ctx, m)
		switch {
		case err != nil:
			return err
		case s.api.out.json:
			return writeJSON(e.stdout, sent{resp.MsgID})
		case resp.MsgID != 0:
			fmt.Fprintf(e.stdout, "ok (msgid %d)\n", resp.MsgID)
		default:
			fmt.Fprintln(e.stdout, "ok")
		}
		return nil
	})
}

// message is the message the flags give: --text's, or --file's with --to
// as its recipient if given; --from sets the account it is sent as.
func (s *sendRun) message(stdin io.Reader) (*kefu.Message, error) {
	var m *kefu.Message
	if s.file == "" {
		m = kefu.NewText(s.to, s.text)
	} else {
		var err error
		if m, err = readMessage(s.file, stdin); err != nil {
			return nil, err
		}
		if s.to != "" {
			m.ToUser = s.to
		}
		if m.ToUser == "" {
			return nil, usagef("no recipient: pass --to or set \"touser\" in the file")
		}
	}
	if s.from != "" {
		m.From(s.from)
	}
	return m, nil
}

// maxJSON bounds a message file: WeChat's bodies are small.
const maxJSON = 1 << 20

// errorOffset is the byte offset in data where decoding failed: where an
// unknown field's name stands, else what the decoder tells.
func errorOffset(data []byte, err error, dec *json.Decoder) int64 {
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if i := bytes.Index(data, []byte(name)); i >= 0 {
			return int64(i)
		}
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return se.Offset
	case errors.As(err, &te):
		return te.Offset
	case errors.Is(err, io.ErrUnexpectedEOF):
		return math.MaxInt64 // the end
	}
	return dec.InputOffset()
}

// position turns a byte offset in data into a 1-based line and column
// (in bytes), as editors show them.
func position(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// readMessage reads one kefu.Message from the file name, or stdin for "-".
// Unknown fields are errors: a typo would otherwise drop a field silently.
func readMessage(name string, stdin io.Reader) (*kefu.Message, error) {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	} else {
		name = "stdin"
	}
	data, err := io.ReadAll(io.LimitReader(r, maxJSON+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > maxJSON {
		return nil, fmt.Errorf("%s: more than %d bytes: not a message", name, maxJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m kefu.Message
	if err := dec.Decode(&m); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty: want a message as JSON", name)
		}
		line, col := position(data, errorOffset(data, err, dec))
		return nil, fmt.Errorf("%s:%d:%d: not a message: %w", name, line, col, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: more than one JSON value: want one message", name)
	}
	return &m, nil
}
