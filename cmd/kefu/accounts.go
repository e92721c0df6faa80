package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kefu-go/kefu"
)

// accountsHelp is the help of "kefu accounts", after its usage line.
const accountsHelp = `  kefu accounts             one line per account: kf_account, nickname, kf_id, invite status
  kefu accounts --online    one line per online account: kf_account, kf_id, status, sessions
  kefu accounts --json      a JSON array, each account in the shape of WeChat's list:
                            {"kf_account","kf_nick","kf_id","kf_headimgurl","kf_wx",
                             "invite_wx","invite_expire_time","invite_status"}
  kefu accounts --online --json   {"kf_account","status","kf_id","accepted_case"} each

Fields are separated by tabs, so "cut -f1" gives the kf_accounts. The invite
status is that of the last invitation of a worker (kefu.Client.InviteWorker)
while none is bound: "waiting", "rejected" or "expired"; it is "bound" once a
worker accepted, and "-" if no worker was ever invited. An online account's
status is 1 for the web client; sessions counts the users it serves. With no
account to list, stdout stays empty (a note goes to stderr); with --json it
is [].

  kefu accounts add --account kf01@shop --nickname Alice     prints "ok" (--json: {"ok":true})
  kefu accounts delete --account kf01@shop                   prints "ok" (--json: {"ok":true})

An account that exists (add), WeChat's limit of 100 accounts, or an unknown
account (delete) are WeChat's refusals: its errcode on stderr, exit 1. A
kf_account not of the form prefix@wechatid (the prefix 1 to 10 of A-Z, a-z,
0-9, _), or a nickname not of 1 to 16 characters, is refused before anything
is sent (exit 4).
`

// accountsCommand is "kefu accounts": the customer-service accounts, all or
// those online; "kefu accounts add" and "kefu accounts delete" manage them.
func accountsCommand(e *env, api *apiFlags) *cobra.Command {
	return newCommand(e, "accounts", "list the customer-service accounts (--online: with a worker online); add, delete", accountsHelp, maxArgs(1), &accountsRun{api: api})
}

// define defines kefu accounts's flags on fs.
func (a *accountsRun) define(fs *pflag.FlagSet) {
	fs.BoolVar(&a.online, "online", false, "list the accounts whose worker is online (OnlineAccounts)")
	fs.StringVar(&a.account, "account", "", "add or delete: the `KF_ACCOUNT`, prefix@wechatid")
	fs.StringVar(&a.nickname, "nickname", "", "add: the `NAME` users see, 1 to 16 characters")
}

// accountsRun is a run of kefu accounts: the flags it was given.
type accountsRun struct {
	api               *apiFlags
	online            bool
	account, nickname string
}

// run lists the accounts, or with --online those with a worker online; an
// argument "add" or "delete" manages one instead.
func (a *accountsRun) run(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 {
		return a.manage(ctx, e, args[0])
	}
	if a.account != "" || a.nickname != "" {
		return usagef("--account and --nickname go with add or delete: kefu accounts add --account KF --nickname NAME")
	}
	if err := a.api.resolve(e); err != nil {
		return err
	}
	return a.api.call(ctx, func(ctx context.Context, client *kefu.Client) error {
		if a.online {
			return listOnline(ctx, e, client, a.api.out.json)
		}
		return listAll(ctx, e, client, a.api.out.json)
	})
}

// listOnline prints the accounts with a worker online.
func listOnline(ctx context.Context, e *env, client *kefu.Client, asJSON bool) error {
	list, err := client.OnlineAccounts(ctx)
	if err != nil {
		return err
	}
	return printList(e, asJSON, list, "no customer-service account has a worker online", func(a kefu.OnlineAccount) string {
		return fmt.Sprintf("%s\t%s\t%d\t%d", field(a.KfAccount), field(a.ID), a.Status, a.AcceptedCase)
	})
}

// listAll prints every account, with the state of its worker's invitation.
func listAll(ctx context.Context, e *env, client *kefu.Client, asJSON bool) error {
	list, err := client.Accounts(ctx)
	if err != nil {
		return err
	}
	return printList(e, asJSON, list, "no customer-service accounts", func(a kefu.Account) string {
		status := a.InviteStatus
		switch {
		case a.WeChatID != "":
			status = "bound"
		case status == "":
			status = "-"
		}
		return fmt.Sprintf("%s\t%s\t%s\t%s", field(a.KfAccount), field(a.Nickname), field(a.ID), field(status))
	})
}

// printList prints list as a JSON array (asJSON: [] when empty), or one
// line of tab-separated fields per item, with a note on stderr when empty.
func printList[T any](e *env, asJSON bool, list []T, none string, line func(T) string) error {
	if asJSON {
		if list == nil {
			list = []T{}
		}
		return writeJSON(e.stdout, list)
	}
	for _, x := range list {
		fmt.Fprintln(e.stdout, line(x))
	}
	if len(list) == 0 {
		fmt.Fprintln(e.stderr, none)
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
