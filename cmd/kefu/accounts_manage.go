package main

import (
	"context"
	"fmt"

	"github.com/kefu-go/kefu"
)

// manage runs "kefu accounts add" or "kefu accounts delete": the action
// names it, the flags give the account.
func (a *accountsRun) manage(ctx context.Context, e *env, action string) error {
	var do func(context.Context, *kefu.Client) error
	switch action {
	case "add":
		if a.account == "" || a.nickname == "" {
			return usagef("add needs --account KF and --nickname NAME")
		}
		do = func(ctx context.Context, c *kefu.Client) error {
			return c.AddAccount(ctx, kefu.Account{KfAccount: a.account, Nickname: a.nickname})
		}
	case "delete":
		if a.account == "" {
			return usagef("delete needs --account KF")
		}
		if a.nickname != "" {
			return usagef("delete takes no --nickname")
		}
		do = func(ctx context.Context, c *kefu.Client) error { return c.DeleteAccount(ctx, a.account) }
	default:
		return usagef("unknown action %q: want add or delete (or none, to list)", action)
	}
	if a.online {
		return usagef("--online goes with listing, not with %s", action)
	}
	if err := a.api.resolve(e); err != nil {
		return err
	}
	return a.api.call(ctx, func(ctx context.Context, client *kefu.Client) error {
		err := do(ctx, client)
		if rules := validationRules(err, ""); rules != "" {
			return fmt.Errorf("%s %s: %s; nothing was sent", action, a.account, rules)
		}
		if err != nil {
			return err
		}
		return printOK(e, a.api.out.json)
	})
}

// printOK prints "ok", or {"ok":true} under --json.
func printOK(e *env, asJSON bool) error {
	if asJSON {
		return writeJSON(e.stdout, map[string]bool{"ok": true})
	}
	_, err := fmt.Fprintln(e.stdout, "ok")
	return err
}
