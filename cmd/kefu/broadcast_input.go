package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"

	"github.com/kefu-go/kefu/redisstore"
	"github.com/redis/go-redis/v9"

	"github.com/kefu-go/kefu"
)

// maxOpenID bounds an OpenID of --to: WeChat's have 28 characters.
const maxOpenID = 128

// recipients reads --to: the OpenIDs, each once, in the order listed.
func (b *broadcastRun) recipients(e *env) ([]string, error) {
	name, r := b.to, e.stdin
	if name == "-" {
		name = "stdin"
	} else {
		f, err := os.Open(b.to)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	users, dups, err := readOpenIDs(name, r)
	if err != nil {
		return nil, err
	}
	if dups > 0 {
		fmt.Fprintf(e.stderr, "kefu broadcast: %s lists %d OpenID(s) more than once: each is sent one message\n", name, dups)
	}
	return users, nil
}

// readOpenIDs reads one OpenID a line from r (called name in errors),
// skipping blank lines and # comments; dups counts the lines that repeat an
// OpenID already read.
func readOpenIDs(name string, r io.Reader) (users []string, dups int, err error) {
	seen := make(map[string]bool)
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		id := strings.TrimSpace(sc.Text())
		switch {
		case id == "" || strings.HasPrefix(id, "#"):
			continue
		case len(id) > maxOpenID || strings.ContainsFunc(id, func(r rune) bool { return unicode.IsSpace(r) || r == ',' }):
			return nil, 0, fmt.Errorf("%s:%d: not an OpenID: want one a line, got %q", name, line, truncateRunes(id, 40))
		case seen[id]:
			dups++
			continue
		}
		seen[id] = true
		users = append(users, id)
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(users) == 0 {
		return nil, 0, fmt.Errorf("%s: no OpenIDs: want one a line", name)
	}
	return users, dups, nil
}

// truncateRunes cuts s to n runes, marking the cut.
func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// message is the message of --text or --file, checked as it will go to the
// first recipient: an invalid message is sent to nobody.
func (b *broadcastRun) message(stdin io.Reader, users []string) (*kefu.Message, error) {
	var m *kefu.Message
	if b.file == "" {
		m = kefu.NewText(users[0], b.text)
	} else {
		var err error
		if m, err = readMessage(b.file, stdin); err != nil {
			return nil, err
		}
		m.ToUser = users[0]
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// templateFallback is what --fallback-template and --fallback-data give.
type templateFallback struct {
	templateID string
	data       map[string]kefu.TemplateValue
}

// parseFallback reads --fallback-template and --fallback-data; nil when
// neither was given.
func (b *broadcastRun) parseFallback() (*templateFallback, error) {
	switch {
	case b.fallbackTemplate == "" && b.fallbackData == "":
		return nil, nil
	case b.fallbackData == "":
		return nil, usagef(`--fallback-template needs --fallback-data, e.g. {"thing1":"your order shipped"}`)
	case b.fallbackTemplate == "":
		return nil, usagef("--fallback-data goes with --fallback-template ID")
	case strings.ContainsFunc(b.fallbackTemplate, unicode.IsSpace):
		return nil, usagef("--fallback-template must be a template id, got %q", b.fallbackTemplate)
	}
	data, err := parseTemplateData(b.fallbackData)
	if err != nil {
		return nil, usagef("--fallback-data: %v", err)
	}
	return &templateFallback{templateID: b.fallbackTemplate, data: data}, nil
}

// parseTemplateData reads a template's data: a JSON object whose values
// are strings or {"value","color"} objects, none empty.
func parseTemplateData(s string) (map[string]kefu.TemplateValue, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil || raw == nil {
		return nil, fmt.Errorf(`want a JSON object such as {"thing1":"hi"}: %s`, strings.TrimPrefix(fmt.Sprint(err), "json: "))
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("want at least one key")
	}
	data := make(map[string]kefu.TemplateValue, len(raw))
	for k, v := range raw {
		var tv kefu.TemplateValue
		if err := json.Unmarshal(v, &tv.Value); err != nil {
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.DisallowUnknownFields()
			if dec.Decode(&tv) != nil {
				return nil, fmt.Errorf(`%q: want a string or {"value":"...","color":"#RRGGBB"}`, k)
			}
		}
		if tv.Value == "" {
			return nil, fmt.Errorf("%q: the value must not be empty (WeChat: 47003)", k)
		}
		data[k] = tv
	}
	return data, nil
}

// bulkOptions are SendAll's options for the flags, and what closes the
// journal once the run is over.
func (b *broadcastRun) bulkOptions(ctx context.Context, e *env, msg *kefu.Message, fb *templateFallback) ([]kefu.BulkOption, func() error, error) {
	opts := []kefu.BulkOption{
		kefu.BulkConcurrency(b.concurrency),
		kefu.BulkKeepQuota(b.keepQuota),
		// One message per recipient: the OpenID is the key, so that a
		// resumed run finds each recipient wherever its line moved.
		kefu.BulkKey(func(_ int, m *kefu.Message) string { return m.ToUser }),
	}
	if b.rate > 0 {
		opts = append(opts, kefu.BulkRate(b.rate))
	}
	if b.retryUnknown {
		opts = append(opts, kefu.BulkRetryUnknown())
	}
	if fb != nil {
		opts = append(opts, kefu.BulkFallback(b.fallback(fb, msg)))
	}
	closeJournal := func() error { return nil }
	switch {
	case b.redisAddr != "":
		shared, closeShared, err := b.shared(ctx, e)
		if err != nil {
			return nil, nil, err
		}
		opts, closeJournal = append(opts, shared...), closeShared
	case b.journal != "":
		j, err := kefu.OpenJournal(b.journal)
		if err != nil {
			return nil, nil, err
		}
		opts, closeJournal = append(opts, kefu.BulkJournal(j)), j.Close
	default:
		fmt.Fprintln(e.stderr, "kefu broadcast: no --journal: if this run stops, running it again sends to everyone again")
	}
	return opts, closeJournal, nil
}

// fallback is the template fallback of --fallback-template: the same
// template for every recipient a customer-service message cannot reach.
// Its run id, which WeChat's client_msg_id is made from, is --run-id, else
// a hash of the message and the template: the same in every resumed run,
// so that a template whose answer was lost is not sent twice.
func (b *broadcastRun) fallback(fb *templateFallback, msg *kefu.Message) kefu.Fallback {
	runID := b.runID
	if runID == "" {
		m := *msg
		m.ToUser = ""
		h := sha256.New()
		for _, v := range []any{&m, fb.templateID, fb.data} {
			json.NewEncoder(h).Encode(v) // values decoded from JSON: they encode
		}
		runID = hex.EncodeToString(h.Sum(nil)[:16])
	}
	return kefu.TemplateFallback(runID, func(*kefu.Message) *kefu.TemplateMessage {
		return &kefu.TemplateMessage{TemplateID: fb.templateID, Data: fb.data}
	})
}

// checkFallback checks the fallback's template message as it will go to
// the first recipient.
func checkFallback(fb *templateFallback, users []string) error {
	if fb == nil {
		return nil
	}
	tm := &kefu.TemplateMessage{ToUser: users[0], TemplateID: fb.templateID, Data: fb.data}
	if err := tm.Validate(); err != nil {
		return usagef("--fallback-template, --fallback-data: %s", strings.TrimPrefix(err.Error(), "kefu: "))
	}
	return nil
}

// shared are the options of a run shared through Redis (--redis): its
// journal (one per --run-id: each recipient is claimed by one process) and
// its rate (a bucket in Redis: --rate is the whole run's, not each
// process's). KEFU_REDIS_PASSWORD is the password, if any.
func (b *broadcastRun) shared(ctx context.Context, e *env) ([]kefu.BulkOption, func() error, error) {
	rdb := redis.NewClient(&redis.Options{Addr: b.redisAddr, Password: e.getenv("KEFU_REDIS_PASSWORD")})
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, nil, fmt.Errorf("--redis %s: %w", b.redisAddr, err)
	}
	opts := []kefu.BulkOption{kefu.BulkJournal(redisstore.NewJournal(rdb, b.runID))}
	if b.rate > 0 {
		opts = append(opts, kefu.BulkLimiter(redisstore.NewLimiter(rdb, b.runID+"/send", b.rate)))
	}
	return opts, rdb.Close, nil
}
