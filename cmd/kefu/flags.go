package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/kefu-go/kefu"
)

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// apiFlags are the flags of the commands that call WeChat: global flags,
// before or after the command.
type apiFlags struct {
	appID, secret, baseURL string
	timeout                time.Duration
	verbose                bool
	log                    io.Writer // where --verbose logs: the command's stderr
	out                    outputFlags
}

func (a *apiFlags) register(fs *pflag.FlagSet) {
	// No default from the environment: --help would print the secret.
	fs.StringVar(&a.appID, "appid", "", "the app id (default $KEFU_APPID)")
	fs.StringVar(&a.secret, "secret", "", "the app secret (default $KEFU_SECRET; the variable keeps it out of ps)")
	fs.StringVar(&a.baseURL, "base-url", "", "WeChat's API `URL`: a proxy, or a kefu fake (default $KEFU_BASE_URL, else "+kefu.DefaultBaseURL+")")
	a.timeout = 30 * time.Second
	fs.Var((*duration)(&a.timeout), "timeout", "give up after this long, retries included: a `DURATION` such as 30s or 2m")
	fs.BoolVar(&a.verbose, "verbose", false, "log each attempt to stderr (no secret is logged)")
	a.out.register(fs)
}

// outputFlags is --json, which every command that calls WeChat has: the
// result as JSON on stdout, for scripts. Errors stay on stderr, with the
// same exit codes.
type outputFlags struct{ json bool }

func (o *outputFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&o.json, "json", false, "print the result as JSON on stdout, for scripts (errors stay on stderr)")
}

// writeJSON writes v as one line of JSON, HTML characters unescaped.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// orEnv sets *v, a flag's value, to the environment variable name when the
// flag was not given.
func (e *env) orEnv(v *string, name string) {
	if *v == "" {
		*v = e.getenv(name)
	}
}

// resolve fills the credentials from the environment and checks the flags.
func (a *apiFlags) resolve(e *env) error {
	e.orEnv(&a.appID, "KEFU_APPID")
	e.orEnv(&a.secret, "KEFU_SECRET")
	e.orEnv(&a.baseURL, "KEFU_BASE_URL")
	if a.baseURL == "" {
		a.baseURL = kefu.DefaultBaseURL
	}
	e.secret = a.secret
	a.log = e.stderr
	switch {
	case a.appID == "" && a.secret == "":
		return usagef("no credentials: set KEFU_APPID and KEFU_SECRET, or pass --appid and --secret")
	case a.appID == "":
		return usagef("no app id: set KEFU_APPID or pass --appid")
	case a.secret == "":
		return usagef("no app secret: set KEFU_SECRET or pass --secret")
	case a.timeout <= 0:
		return usagef("--timeout must be positive, got %v", a.timeout)
	}
	u, err := url.Parse(a.baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--base-url must be an absolute http or https URL, got %q", a.baseURL)
	}
	a.baseURL = strings.TrimRight(a.baseURL, "/")
	return nil
}

// duration is a pflag.Value for a time.Duration whose error says how to fix
// a number without a unit.
type duration time.Duration

func (d *duration) String() string {
	if d == nil {
		return "0s"
	}
	return time.Duration(*d).String()
}

func (d *duration) Type() string { return "duration" }

func (d *duration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			return fmt.Errorf("%q has no unit: use %ss (or ms, m, h)", s, s)
		}
		return fmt.Errorf("%q is not a duration: use e.g. 5s, 500ms or 2m", s)
	}
	*d = duration(v)
	return nil
}
