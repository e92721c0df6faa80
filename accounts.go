package kefu

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// The customer-service management endpoints (the "new" customer service:
// accounts, workers, sessions; message records in records.go).
const (
	accountAddPath    = "/customservice/kfaccount/add"
	accountUpdatePath = "/customservice/kfaccount/update"
	accountDelPath    = "/customservice/kfaccount/del"
	inviteWorkerPath  = "/customservice/kfaccount/inviteworker"
	accountListPath   = "/cgi-bin/customservice/getkflist"
	onlineListPath    = "/cgi-bin/customservice/getonlinekflist"
	sessionCreatePath = "/customservice/kfsession/create"
	sessionClosePath  = "/customservice/kfsession/close"
	sessionGetPath    = "/customservice/kfsession/getsession"
	sessionListPath   = "/customservice/kfsession/getsessionlist"
	waitCasePath      = "/customservice/kfsession/getwaitcase"
)

// MaxNicknameRunes bounds a customer-service account's nickname (WeChat:
// 65403 illegal nickname).
const MaxNicknameRunes = 16

// Account is a customer-service account. AddAccount and UpdateAccount send
// KfAccount and Nickname; Accounts fills every field. Its JSON encoding is
// the shape of WeChat's account list (kf_account, kf_nick, kf_id, ...), so
// an Account read from Accounts encodes and decodes unchanged.
type Account struct {
	// KfAccount is "prefix@wechatid": a prefix of 1 to 10 characters
	// A-Z, a-z, 0-9 or _, then the Official Account's WeChat ID.
	KfAccount string
	// Nickname is what users see: 1 to 16 characters.
	Nickname string

	// ID is the account's worker number (kf_id).
	ID string
	// HeadImgURL is the account's head image (SetAccountAvatar).
	HeadImgURL string
	// WeChatID is the WeChat ID of the worker bound to the account (kf_wx);
	// empty until an invited worker accepts.
	WeChatID string
	// InviteWeChatID, InviteExpires and InviteStatus describe the last
	// invitation (InviteWorker) while no worker is bound.
	InviteWeChatID string
	InviteExpires  time.Time
	InviteStatus   string // "waiting", "rejected" or "expired"
}

// accountWire is Account on the wire. WeChat's lists write kf_nick; the add
// and update bodies write nickname, which decoding accepts too.
type accountWire struct {
	KfAccount        string `json:"kf_account"`
	Nick             string `json:"kf_nick,omitempty"`
	Nickname         string `json:"nickname,omitempty"`
	ID               flexID `json:"kf_id,omitempty"`
	HeadImgURL       string `json:"kf_headimgurl,omitempty"`
	WeChatID         string `json:"kf_wx,omitempty"`
	InviteWeChatID   string `json:"invite_wx,omitempty"`
	InviteExpireTime int64  `json:"invite_expire_time,omitempty"`
	InviteStatus     string `json:"invite_status,omitempty"`
}

// MarshalJSON writes a in the shape of WeChat's account list.
func (a Account) MarshalJSON() ([]byte, error) {
	w := accountWire{KfAccount: a.KfAccount, Nick: a.Nickname, ID: flexID(a.ID), HeadImgURL: a.HeadImgURL,
		WeChatID: a.WeChatID, InviteWeChatID: a.InviteWeChatID, InviteStatus: a.InviteStatus}
	if !a.InviteExpires.IsZero() {
		w.InviteExpireTime = a.InviteExpires.Unix()
	}
	return marshalWire(w)
}

// UnmarshalJSON reads an entry of WeChat's account list (kf_id may be a
// number or a string), or an add/update body.
func (a *Account) UnmarshalJSON(b []byte) error {
	var w accountWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*a = Account{KfAccount: w.KfAccount, Nickname: w.Nick, ID: string(w.ID), HeadImgURL: w.HeadImgURL,
		WeChatID: w.WeChatID, InviteWeChatID: w.InviteWeChatID, InviteStatus: w.InviteStatus}
	if a.Nickname == "" {
		a.Nickname = w.Nickname
	}
	if w.InviteExpireTime != 0 {
		a.InviteExpires = time.Unix(w.InviteExpireTime, 0)
	}
	return nil
}

// flexID is an id WeChat writes as a number or as a string.
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		err := json.Unmarshal(b, &s)
		*f = flexID(s)
		return err
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexID(n)
	return nil
}

// OnlineAccount is a customer-service account whose worker is online.
type OnlineAccount struct {
	KfAccount string `json:"kf_account"`
	// Status is how the worker is online: 1 on the web client.
	Status int    `json:"status"`
	ID     string `json:"kf_id"`
	// AcceptedCase is how many sessions the worker is serving.
	AcceptedCase int `json:"accepted_case"`
}

// UnmarshalJSON reads an entry of WeChat's online list (kf_id may be a
// number or a string).
func (o *OnlineAccount) UnmarshalJSON(b []byte) error {
	type plain OnlineAccount
	var w struct {
		plain
		ID flexID `json:"kf_id"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*o = OnlineAccount(w.plain)
	o.ID = string(w.ID)
	return nil
}

// Session is a user being served by a customer-service account.
type Session struct {
	KfAccount string
	OpenID    string
	Created   time.Time // when the account took the session
}

// WaitCases is the queue of users waiting for a customer-service account.
type WaitCases struct {
	// Count is how many users wait; Cases lists the 100 who have waited
	// longest.
	Count int
	Cases []WaitCase
}

// WaitCase is one waiting user.
type WaitCase struct {
	OpenID     string
	LatestTime time.Time // the user's latest message
}

// AddAccount adds a customer-service account (POST
// /customservice/kfaccount/add) with a.KfAccount and a.Nickname; the other
// fields are ignored. Locally checked: the kf_account shape and a nickname
// of 1 to 16 characters. An existing account matches ErrAccountExists, the
// 100-account limit ErrAccountLimit. The Official Account must have a
// WeChat ID (the part after @). A write: an unknown outcome is retried only
// under RetryPolicy.RetryUnknown (a retry may then meet ErrAccountExists).
//
// https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Customer_Service_Management.html
func (c *Client) AddAccount(ctx context.Context, a Account) error {
	return c.putAccount(ctx, accountAddPath, a)
}

// UpdateAccount sets the nickname of the customer-service account
// a.KfAccount to a.Nickname (POST /customservice/kfaccount/update), checked
// as AddAccount does. An unknown account matches ErrAccountNotFound.
//
// https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Customer_Service_Management.html
func (c *Client) UpdateAccount(ctx context.Context, a Account) error {
	return c.putAccount(ctx, accountUpdatePath, a)
}

func (c *Client) putAccount(ctx context.Context, path string, a Account) error {
	v := accountValidator(a.KfAccount)
	if v.required("nickname", a.Nickname) && utf8.RuneCountInString(a.Nickname) > MaxNicknameRunes {
		v.add("nickname", fmt.Sprintf("must be at most %d characters", MaxNicknameRunes))
	}
	return c.post(ctx, path, v, accountBody{KfAccount: a.KfAccount, Nickname: a.Nickname})
}

// accountBody is the body of the calls on one customer-service account:
// kf_account, and the one other member a call sends (checked to be set, so
// omitempty leaves out only the members other calls send).
type accountBody struct {
	KfAccount string `json:"kf_account"`
	Nickname  string `json:"nickname,omitempty"`
	InviteWx  string `json:"invite_wx,omitempty"`
	OpenID    string `json:"openid,omitempty"`
}

// accountValidator returns a validator that checked kfAccount.
func accountValidator(kfAccount string) *validator {
	v := new(validator)
	v.kfAccount("kf_account", kfAccount)
	return v
}

// DeleteAccount deletes the customer-service account kfAccount (POST
// /customservice/kfaccount/del). An unknown account matches
// ErrAccountNotFound.
//
// https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Customer_Service_Management.html
func (c *Client) DeleteAccount(ctx context.Context, kfAccount string) error {
	return c.post(ctx, accountDelPath, accountValidator(kfAccount), accountBody{KfAccount: kfAccount})
}

// InviteWorker invites the WeChat user wechatID to work as the
// customer-service account kfAccount (POST
// /customservice/kfaccount/inviteworker); the account is usable once the
// user accepts in WeChat. An account that already has a worker or a pending
// invitation, or a user already working for the Official Account, matches
// ErrAlreadyInvited.
//
// https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Customer_Service_Management.html
func (c *Client) InviteWorker(ctx context.Context, kfAccount, wechatID string) error {
	v := accountValidator(kfAccount)
	v.required("invite_wx", wechatID)
	return c.post(ctx, inviteWorkerPath, v, accountBody{KfAccount: kfAccount, InviteWx: wechatID})
}

// Accounts lists the customer-service accounts (GET
// /cgi-bin/customservice/getkflist). A read: retried on unknown outcomes.
//
// https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Customer_Service_Management.html
func (c *Client) Accounts(ctx context.Context) ([]Account, error) {
	var a struct {
		List []Account `json:"kf_list"`
	}
	err := c.get(ctx, accountListPath, "", nil, &a, func() bool { return a.List != nil })
	return orNil(a.List, err)
}

// OnlineAccounts lists the customer-service accounts whose worker is online
// (GET /cgi-bin/customservice/getonlinekflist). A read: retried on unknown
// outcomes.
//
// https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Customer_Service_Management.html
func (c *Client) OnlineAccounts(ctx context.Context) ([]OnlineAccount, error) {
	var a struct {
		List []OnlineAccount `json:"kf_online_list"`
	}
	err := c.get(ctx, onlineListPath, "", nil, &a, func() bool { return a.List != nil })
	return orNil(a.List, err)
}

// OpenSession makes the customer-service account kfAccount serve the user
// openID (POST /customservice/kfsession/create). The account needs a bound
// worker (else ErrWorkerNotBound) who is online (else ErrWorkerOffline); a
// user served by another account matches ErrSessionExists. Opening a
// session the account already has succeeds.
//
// https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Session_control.html
func (c *Client) OpenSession(ctx context.Context, kfAccount, openID string) error {
	return c.session(ctx, sessionCreatePath, kfAccount, openID)
}

// CloseSession ends the session of kfAccount with openID (POST
// /customservice/kfsession/close). A user without a session matches
// ErrSessionNotFound; one served by another account ErrSessionExists.
//
// https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Session_control.html
func (c *Client) CloseSession(ctx context.Context, kfAccount, openID string) error {
	return c.session(ctx, sessionClosePath, kfAccount, openID)
}

func (c *Client) session(ctx context.Context, path, kfAccount, openID string) error {
	v := accountValidator(kfAccount)
	v.required("openid", openID)
	return c.post(ctx, path, v, accountBody{KfAccount: kfAccount, OpenID: openID})
}

// Session returns the session of the user openID (GET
// /customservice/kfsession/getsession). A user without a session (WeChat
// answers an empty kf_account) is an error matching ErrSessionNotFound. A
// read: retried on unknown outcomes.
//
// https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Session_control.html
func (c *Client) Session(ctx context.Context, openID string) (*Session, error) {
	var v validator
	v.required("openid", openID)
	var a struct {
		Created   int64   `json:"createtime"`
		KfAccount *string `json:"kf_account"`
	}
	if err := c.get(ctx, sessionGetPath, "openid="+url.QueryEscape(openID), &v, &a, func() bool { return a.KfAccount != nil }); err != nil {
		return nil, err
	}
	if a.KfAccount == nil || *a.KfAccount == "" {
		return nil, fmt.Errorf("kefu: %s: user %q: %w", sessionGetPath, openID, ErrSessionNotFound)
	}
	return &Session{KfAccount: *a.KfAccount, OpenID: openID, Created: time.Unix(a.Created, 0)}, nil
}

// Sessions lists the sessions of the customer-service account kfAccount
// (GET /customservice/kfsession/getsessionlist). An unknown account matches
// ErrAccountNotFound. A read: retried on unknown outcomes.
//
// https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Session_control.html
func (c *Client) Sessions(ctx context.Context, kfAccount string) ([]Session, error) {
	var v validator
	v.kfAccount("kf_account", kfAccount)
	var a struct {
		List []struct {
			Created int64  `json:"createtime"`
			OpenID  string `json:"openid"`
		} `json:"sessionlist"`
	}
	if err := c.get(ctx, sessionListPath, "kf_account="+url.QueryEscape(kfAccount), &v, &a, func() bool { return a.List != nil }); err != nil {
		return nil, err
	}
	out := make([]Session, len(a.List))
	for i, s := range a.List {
		out[i] = Session{KfAccount: kfAccount, OpenID: s.OpenID, Created: time.Unix(s.Created, 0)}
	}
	return out, nil
}

// WaitingSessions returns the users waiting for a customer-service account
// (GET /customservice/kfsession/getwaitcase): how many, and the 100 who have
// waited longest. A read: retried on unknown outcomes.
//
// https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Session_control.html
func (c *Client) WaitingSessions(ctx context.Context) (*WaitCases, error) {
	var a struct {
		Count *int `json:"count"`
		List  []struct {
			LatestTime int64  `json:"latest_time"`
			OpenID     string `json:"openid"`
		} `json:"waitcaselist"`
	}
	if err := c.get(ctx, waitCasePath, "", nil, &a, func() bool { return a.Count != nil || a.List != nil }); err != nil {
		return nil, err
	}
	w := &WaitCases{Cases: make([]WaitCase, len(a.List))}
	if a.Count != nil {
		w.Count = *a.Count
	}
	for i, wc := range a.List {
		w.Cases[i] = WaitCase{OpenID: wc.OpenID, LatestTime: time.Unix(wc.LatestTime, 0)}
	}
	return w, nil
}

// MaxKfPrefix is the longest prefix of a kf_account, the part before the @.
const MaxKfPrefix = 10

// ValidateKfAccount checks the shape of a customer-service account name,
// "prefix@account": a prefix of 1 to MaxKfPrefix characters A-Z, a-z, 0-9
// or _, then the Official Account's WeChat ID, without another @, spaces or
// control characters. It returns nil or a *ValidationError on field
// "kf_account" (matching ErrInvalidMessage). The client checks it before
// every call that names an account; kefutest and the kefu command use it too.
func ValidateKfAccount(kfAccount string) error {
	if kfAccount == "" {
		return &ValidationError{Field: "kf_account", Rule: "required"}
	}
	if rule := kfAccountRule(kfAccount); rule != "" {
		return &ValidationError{Field: "kf_account", Rule: rule}
	}
	return nil
}

// kfAccountRule returns the rule a non-empty kf_account breaks, or "".
func kfAccountRule(s string) string {
	at := strings.IndexByte(s, '@')
	if at < 0 || at == len(s)-1 {
		return `must be "prefix@account"`
	}
	if strings.ContainsFunc(s[at+1:], func(r rune) bool { return r == '@' || r <= ' ' || r == 0x7f }) {
		return "account after @ must not hold another @, spaces or control characters"
	}
	prefix := s[:at]
	if prefix == "" || len(prefix) > MaxKfPrefix {
		return "prefix before @ must be 1 to 10 characters"
	}
	if strings.ContainsFunc(prefix, func(r rune) bool { return !isWordChar(r) }) {
		return "prefix before @ may only hold A-Z, a-z, 0-9 and _"
	}
	return ""
}

// isWordChar reports whether r is one of A-Z, a-z, 0-9 and _.
func isWordChar(r rune) bool {
	return r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}

// orNil returns v, or nil when err is not: an answer that failed may have
// been decoded in part.
func orNil[T any](v []T, err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}
