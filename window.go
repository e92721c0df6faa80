package kefu

import (
	"strconv"
	"strings"
	"time"
)

// Action is a user action that opens a reply window: after it, the account
// may send the user a number of customer-service messages for a while.
// Outside every window WeChat answers 45015 (ErrOutsideWindow); inside one
// whose messages are used up, 45047 (ErrQuotaExceeded).
type Action int

// The actions that open a window, with what each allows (WeChat's rules
// since mid-2023; Rule gives the numbers):
const (
	ActionUserMessage  Action = iota + 1 // the user sent a message: 5 messages in 48 h
	ActionMenuClick                      // a menu click (or a msgmenu item tapped): 3 messages in 1 min
	ActionFollow                         // the user followed the account: 3 messages in 1 min
	ActionScan                           // the user scanned a QR code: 3 messages in 1 min
	ActionPayment                        // a payment succeeded (Service Accounts): unlimited in 48 h
	ActionEnterSession                   // Mini Programs: the user entered the chat: 2 messages in 1 min
)

// Unlimited is WindowRule.Messages for a window without a message limit.
const Unlimited = -1

// WindowRule is what one action allows: Messages (Unlimited for no limit)
// within For of the action.
type WindowRule struct {
	Messages int
	For      time.Duration
}

// actionInfo is one row of the window rule table.
type actionInfo struct {
	name string
	rule WindowRule
}

// actions is the window rule table, indexed by Action. It is the only place
// these numbers are written (../shared/wechat-api.md §3).
var actions = [...]actionInfo{
	ActionUserMessage:  {"UserMessage", WindowRule{Messages: 5, For: 48 * time.Hour}},
	ActionMenuClick:    {"MenuClick", WindowRule{Messages: 3, For: time.Minute}},
	ActionFollow:       {"Follow", WindowRule{Messages: 3, For: time.Minute}},
	ActionScan:         {"Scan", WindowRule{Messages: 3, For: time.Minute}},
	ActionPayment:      {"Payment", WindowRule{Messages: Unlimited, For: 48 * time.Hour}},
	ActionEnterSession: {"EnterSession", WindowRule{Messages: 2, For: time.Minute}},
}

// Actions returns every known Action, in the order of the constants.
func Actions() []Action {
	out := make([]Action, 0, len(actions)-1)
	for a := ActionUserMessage; int(a) < len(actions); a++ {
		out = append(out, a)
	}
	return out
}

// Valid reports whether a is one of the Action constants.
func (a Action) Valid() bool { return a >= ActionUserMessage && int(a) < len(actions) }

// String returns the action's name without its prefix, e.g. "UserMessage"
// for ActionUserMessage, or "Action(N)" for an unknown one.
func (a Action) String() string {
	if !a.Valid() {
		return "Action(" + strconv.Itoa(int(a)) + ")"
	}
	return actions[a].name
}

// Rule returns the window a opens, and false for an unknown action.
func (a Action) Rule() (WindowRule, bool) {
	if !a.Valid() {
		return WindowRule{}, false
	}
	return actions[a].rule, true
}

// ParseAction returns the Action whose String is name, in any case. An
// unknown name is a *ValidationError on field "action" that lists the names.
func ParseAction(name string) (Action, error) {
	for _, a := range Actions() {
		if strings.EqualFold(a.String(), name) {
			return a, nil
		}
	}
	names := make([]string, 0, len(actions))
	for _, a := range Actions() {
		names = append(names, a.String())
	}
	return 0, &ValidationError{Field: "action", Rule: "unknown action " + strconv.Quote(name) + ": want one of " + strings.Join(names, ", ")}
}
