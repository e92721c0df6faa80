package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/kefu-go/kefu"
)

// accountsCommand is "kefu accounts": the customer-service accounts, all or
// those online.
func accountsCommand() *command {
	return &command{
		name:    "accounts",
		summary: "list the customer-service accounts (--online: those with a worker online)",
		usage: `  kefu accounts             one line per account: kf_account, nickname, kf_id, invite status
  kefu accounts --online    one line per online account: kf_account, kf_id, status, sessions

Fields are separated by tabs, so "cut -f1" gives the kf_accounts. The invite
status is that of the last invitation of a worker (kefu.Client.InviteWorker)
while none is bound: "waiting", "rejected" or "expired"; it is "bound" once a
worker accepted, and "-" if no worker was ever invited. An online account's
status is 1 for the web client; sessions counts the users it serves. With no
account to list, stdout stays empty (a note goes to stderr).
`,
		flags: accountsFlags,
	}
}

// accountsFlags defines kefu accounts' flags on fs.
func accountsFlags(fs *flag.FlagSet) runFunc {
	a := &accountsRun{}
	a.api.register(fs)
	fs.BoolVar(&a.online, "online", false, "list the accounts whose worker is online (OnlineAccounts)")
	return a.run
}

// accountsRun is a run of kefu accounts: the flags it was given.
type accountsRun struct {
	api    apiFlags
	online bool
}

// run lists the accounts, or with --online those with a worker online.
func (a *accountsRun) run(ctx context.Context, e *env, _ []string) error {
	if err := a.api.resolve(e); err != nil {
		return err
	}
	return a.api.call(ctx, func(ctx context.Context, client *kefu.Client) error {
		if a.online {
			return listOnline(ctx, e, client)
		}
		return listAll(ctx, e, client)
	})
}

// listOnline prints the accounts with a worker online.
func listOnline(ctx context.Context, e *env, client *kefu.Client) error {
	list, err := client.OnlineAccounts(ctx)
	if err != nil {
		return err
	}
	for _, a := range list {
		fmt.Fprintf(e.stdout, "%s\t%s\t%d\t%d\n", field(a.KfAccount), field(a.ID), a.Status, a.AcceptedCase)
	}
	if len(list) == 0 {
		fmt.Fprintln(e.stderr, "no customer-service account has a worker online")
	}
	return nil
}

// listAll prints every account, with the state of its worker's invitation.
func listAll(ctx context.Context, e *env, client *kefu.Client) error {
	list, err := client.Accounts(ctx)
	if err != nil {
		return err
	}
	for _, a := range list {
		status := a.InviteStatus
		switch {
		case a.WeChatID != "":
			status = "bound"
		case status == "":
			status = "-"
		}
		fmt.Fprintf(e.stdout, "%s\t%s\t%s\t%s\n", field(a.KfAccount), field(a.Nickname), field(a.ID), field(status))
	}
	if len(list) == 0 {
		fmt.Fprintln(e.stderr, "no customer-service accounts")
	}
	return nil
}

// field keeps a value on its line and in its column: tabs and line breaks
// become spaces, and an empty value is "-".
func field(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}
