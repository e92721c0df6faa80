package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/kefu-go/kefu"
)

var sendCmd = &command{
	name:    "send",
	summary: "send one customer-service message",
	usage: `  kefu send --to OPENID --text "您好"
  kefu send --json FILE          a kefu.Message as JSON, any type; "-" reads stdin
  kefu send --to OPENID --json - <<<'{"msgtype":"image","image":{"media_id":"MEDIA_ID"}}'

The recipient is --to, else the "touser" of the JSON. --from sends as a
customer-service account. Prints "ok" when WeChat accepted the message.
WeChat allows messages only after the user acted (5 in 48 h after the user
writes): outside that window it answers 45015, past the quota 45047.
`,
	flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		var (
			api                      apiFlags
			to, text, jsonFile, from string
		)
		api.register(fs)
		fs.StringVar(&to, "to", "", "the user's `OPENID`")
		fs.StringVar(&text, "text", "", "send a text message with this content (may hold <a href> links)")
		fs.StringVar(&jsonFile, "json", "", "send the message in `FILE` (JSON, as WeChat's API takes it); - reads stdin")
		fs.StringVar(&from, "from", "", "send as this customer-service account, e.g. kf01@account")
		return func(ctx context.Context, e *env, _ []string) error {
			textSet := false
			fs.Visit(func(f *flag.Flag) { textSet = textSet || f.Name == "text" })
			switch {
			case textSet && jsonFile != "":
				return usagef("give --text or --json, not both")
			case !textSet && jsonFile == "":
				return usagef("nothing to send: give --text or --json")
			case textSet && to == "":
				return usagef("--to is required with --text")
			}
			if err := api.resolve(e); err != nil {
				return err
			}
			var m *kefu.Message
			if jsonFile == "" {
				m = kefu.NewText(to, text)
			} else {
				var err error
				if m, err = readMessage(jsonFile, e.stdin); err != nil {
					return err
				}
				if to != "" {
					m.ToUser = to
				}
				if m.ToUser == "" {
					return usagef("no recipient: pass --to or set \"touser\" in the JSON")
				}
			}
			if from != "" {
				m.From(from)
			}
			return api.call(ctx, func(ctx context.Context, client *kefu.Client) error {
				resp, err := client.Send(ctx, m)
				if err != nil {
					return err
				}
				if resp.MsgID != 0 {
					fmt.Fprintf(e.stdout, "ok (msgid %d)\n", resp.MsgID)
				} else {
					fmt.Fprintln(e.stdout, "ok")
				}
				return nil
			})
		}
	},
}

// maxJSON bounds a message file: WeChat's bodies are small.
const maxJSON = 1 << 20

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
		return nil, fmt.Errorf("%s: not a message: %w", name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: more than one JSON value: want one message", name)
	}
	return &m, nil
}

var typingCmd = &command{
	name:    "typing",
	summary: `show "typing..." to a user, or stop it (--off)`,
	usage: `  kefu typing --to OPENID
  kefu typing --to OPENID --off

WeChat allows it only within 30 s of a message exchange with the user
(45080) and not while already typing (45081); it lasts 15 s, or until a
message is sent.
`,
	flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		var (
			api apiFlags
			to  string
			off bool
		)
		api.register(fs)
		fs.StringVar(&to, "to", "", "the user's `OPENID`")
		fs.BoolVar(&off, "off", false, "stop typing (CancelTyping)")
		return func(ctx context.Context, e *env, _ []string) error {
			if to == "" {
				return usagef("--to is required")
			}
			if err := api.resolve(e); err != nil {
				return err
			}
			return api.call(ctx, func(ctx context.Context, client *kefu.Client) error {
				var err error
				if off {
					err = client.CancelTyping(ctx, to)
				} else {
					err = client.Typing(ctx, to)
				}
				if err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, "ok")
				return nil
			})
		}
	},
}
