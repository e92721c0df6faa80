package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kefu-go/kefu"
)

// sessionsHelp is the help of "kefu sessions", after its usage line.
const sessionsHelp = `  kefu sessions --account KF     one line per session of the account: openid, created
  kefu sessions --user OPENID    the user's session: kf_account, openid, created
  kefu sessions --waiting        one line per waiting user: openid, latest message

Give exactly one of --account, --user and --waiting. Fields are separated by
tabs, times are RFC 3339. A user without a session is no error: stdout stays
empty and a note goes to stderr. --waiting lists the 100 users who have waited
longest and says on stderr how many wait in all. With --json:
  --account    [{"kf_account","openid","created"}, ...]    ([] for none)
  --user       {"kf_account","openid","created"}    ({"kf_account":"","openid"} for none)
  --waiting    {"count":N,"waiting":[{"openid","latest_time"}, ...]}
`

// sessionsCommand is "kefu sessions": who the customer-service accounts
// serve, and who waits.
func sessionsCommand(e *env, api *apiFlags) *cobra.Command {
	return newCommand(e, "sessions", "list an account's sessions, a user's session, or the users waiting (--waiting)", sessionsHelp, maxArgs(0), &sessionsRun{api: api})
}

// define defines kefu sessions's flags on fs.
func (s *sessionsRun) define(fs *pflag.FlagSet) {
	// exactly one of --account, --user, --waiting
	fs.StringVar(&s.account, "account", "", "list the sessions of this customer-service `KF_ACCOUNT` (Sessions)")
	fs.StringVar(&s.user, "user", "", "show the session of this `OPENID` (Session)")
	fs.BoolVar(&s.waiting, "waiting", false, "list the users waiting for an account (WaitingSessions)")
}

// sessionsRun is a run of kefu sessions: the flags it was given.
type sessionsRun struct {
	api           *apiFlags
	account, user string
	waiting       bool
}

// sessionJSON is a session as kefu sessions --json prints it.
type sessionJSON struct {
	KfAccount string `json:"kf_account"`
	OpenID    string `json:"openid"`
	Created   string `json:"created,omitempty"` // RFC 3339
}

func toSessionJSON(s kefu.Session) sessionJSON {
	return sessionJSON{s.KfAccount, s.OpenID, s.Created.Format(time.RFC3339)}
}

// run lists what the flags ask for.
func (s *sessionsRun) run(ctx context.Context, e *env, _ []string) error {
	given := 0
	for _, set := range []bool{s.account != "", s.user != "", s.waiting} {
		if set {
			given++
		}
	}
	if given != 1 {
		return usagef("give exactly one of --account KF, --user OPENID and --waiting")
	}
	if err := s.api.resolve(e); err != nil {
		return err
	}
	return s.api.call(ctx, func(ctx context.Context, client *kefu.Client) error {
		switch {
		case s.account != "":
			return s.listAccount(ctx, e, client)
		case s.user != "":
			return s.showUser(ctx, e, client)
		}
		return s.listWaiting(ctx, e, client)
	})
}

// listAccount prints the sessions of --account.
func (s *sessionsRun) listAccount(ctx context.Context, e *env, client *kefu.Client) error {
	list, err := client.Sessions(ctx, s.account)
	if err != nil {
		return err
	}
	out := make([]sessionJSON, len(list))
	for i, x := range list {
		out[i] = toSessionJSON(x)
	}
	return printList(e, s.api.out.json, out, s.account+" serves no user", func(x sessionJSON) string {
		return field(x.OpenID) + "\t" + x.Created
	})
}

// showUser prints the session of --user, if any.
func (s *sessionsRun) showUser(ctx context.Context, e *env, client *kefu.Client) error {
	sess, err := client.Session(ctx, s.user)
	switch {
	case errors.Is(err, kefu.ErrSessionNotFound):
		if s.api.out.json {
			return writeJSON(e.stdout, sessionJSON{OpenID: s.user})
		}
		fmt.Fprintf(e.stderr, "%s has no session\n", field(s.user))
		return nil
	case err != nil:
		return err
	case s.api.out.json:
		return writeJSON(e.stdout, toSessionJSON(*sess))
	}
	x := toSessionJSON(*sess)
	fmt.Fprintf(e.stdout, "%s\t%s\t%s\n", field(x.KfAccount), field(x.OpenID), x.Created)
	return nil
}

// waitingJSON is what kefu sessions --waiting --json prints.
type waitingJSON struct {
	Count   int           `json:"count"`
	Waiting []waitingUser `json:"waiting"`
}

type waitingUser struct {
	OpenID     string `json:"openid"`
	LatestTime string `json:"latest_time"` // RFC 3339
}

// listWaiting prints the users waiting for an account.
func (s *sessionsRun) listWaiting(ctx context.Context, e *env, client *kefu.Client) error {
	w, err := client.WaitingSessions(ctx)
	if err != nil {
		return err
	}
	out := waitingJSON{Count: w.Count, Waiting: make([]waitingUser, len(w.Cases))}
	for i, c := range w.Cases {
		out.Waiting[i] = waitingUser{c.OpenID, c.LatestTime.Format(time.RFC3339)}
	}
	if s.api.out.json {
		return writeJSON(e.stdout, out)
	}
	for _, u := range out.Waiting {
		fmt.Fprintf(e.stdout, "%s\t%s\n", field(u.OpenID), u.LatestTime)
	}
	fmt.Fprintf(e.stderr, "%d waiting\n", w.Count)
	return nil
}
