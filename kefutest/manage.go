package kefutest

import (
	"cmp"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kefu-go/kefu"
)

// WeChat's customer-service management rules, as the fake applies them.
// The errcodes are WeChat's global return codes of the new customer
// service (65400..65417); see errmsgs for their texts.
const (
	maxAccounts   = 100                // then 65405
	maxNickname   = 16                 // characters; longer or empty: 65403
	inviteLife    = 7 * 24 * time.Hour // an invitation waits this long for the worker
	maxWaitList   = 100                // getwaitcase lists the earliest 100
	maxRecordSpan = 24 * 60 * 60       // getmsglist: endtime - starttime, seconds; more: 65417
	maxRecordPage = 10000              // getmsglist: number; more: 65416
	firstKfID     = 1001               // kf_id of the first account
)

// manage is the server's customer-service state. Its maps are made on first
// use; s.mu guards it.
type manage struct {
	accounts map[string]*kfAccount // by kf_account
	nextID   int                   // kf_id of the next account, after firstKfID
	sessions map[string]*kfSession // by user OpenID
	waiting  map[string]time.Time  // user OpenID -> latest message
	records  []kefu.Record         // msgid i+1 is records[i]
	uploads  map[string]*Upload    // by media id or URL
	expires  map[string]time.Time  // uploaded media id -> end of life
}

// kfAccount is one customer-service account.
type kfAccount struct {
	name, nick    string
	id            int
	headImg       string
	worker        string // the bound worker's WeChat ID, "" if none
	inviteWx      string // the last invitation's WeChat ID
	inviteExpires time.Time
	online        bool
}

// kfSession is a user's session with an account.
type kfSession struct {
	account string
	created time.Time
}

func validNickname(s string) bool {
	n := utf8.RuneCountInString(s)
	return s != "" && utf8.ValidString(s) && n <= maxNickname
}

// validWeChatID reports whether s looks like a WeChat ID: 6 to 20 of A-Z,
// a-z, 0-9, _ and -, starting with a letter.
func validWeChatID(s string) bool {
	return len(s) >= 6 && len(s) <= 20 && isLetter(rune(s[0])) &&
		!strings.ContainsFunc(s, func(r rune) bool { return !isLetter(r) && !isDigit(r) && r != '_' && r != '-' })
}

func isLetter(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }
func isDigit(r rune) bool  { return r >= '0' && r <= '9' }

// account returns the account named kf, registering it if new. s.mu must
// be held.
func (s *Server) account(kf, nick string) *kfAccount {
	if s.mg.accounts == nil {
		s.mg.accounts = make(map[string]*kfAccount)
	}
	a := s.mg.accounts[kf]
	if a == nil {
		a = &kfAccount{name: kf, id: firstKfID + s.mg.nextID}
		s.mg.nextID++
		s.mg.accounts[kf] = a
	}
	a.nick = nick
	return a
}

// AddAccount registers the customer-service account kfAccount with
// nickname, as PathAccountAdd would, or renames it if it exists. It has no
// worker until AcceptInvite or SetOnline. An invalid kf_account or
// nickname panics.
func (s *Server) AddAccount(kfAccount, nickname string) {
	if kefu.ValidateKfAccount(kfAccount) != nil || !validNickname(nickname) {
		panic("kefutest: AddAccount: invalid kf_account or nickname")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.account(kfAccount, nickname)
}

// SetOnline marks the worker of kfAccount online or offline. Sessions open
// only with an online worker (else 65415); OnlineAccounts lists online
// ones. Only a bound worker can be online, so SetOnline(kf, true) on an
// account without one binds it as if the invitation were accepted (the
// invited WeChat ID, or "wx_" and the prefix). An unknown account panics.
func (s *Server) SetOnline(kfAccount string, online bool) {
	if !s.setOnline(kfAccount, online) {
		panic("kefutest: SetOnline: unknown account " + kfAccount)
	}
}

// setOnline is SetOnline, reporting false for an unknown account.
func (s *Server) setOnline(kfAccount string, online bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.mg.accounts[kfAccount]
	if a == nil {
		return false
	}
	if online && a.worker == "" {
		a.bind(kfAccount)
	}
	a.online = online
	return true
}

// AcceptInvite makes the worker invited to kfAccount (InviteWorker) accept:
// the account is bound to that WeChat ID, still offline. An unknown account,
// or one without a pending invitation, panics.
func (s *Server) AcceptInvite(kfAccount string) {
	if !s.acceptInvite(kfAccount) {
		panic("kefutest: AcceptInvite: no pending invitation for " + kfAccount)
	}
}

// acceptInvite is AcceptInvite, reporting false for an unknown account or
// one without a pending invitation.
func (s *Server) acceptInvite(kfAccount string) bool {
	now := s.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.mg.accounts[kfAccount]
	if a == nil || a.worker != "" || a.inviteWx == "" || !now.Before(a.inviteExpires) {
		return false
	}
	a.bind(kfAccount)
	return true
}

// bind binds the invited worker, or a made-up one.
func (a *kfAccount) bind(kf string) {
	a.worker = a.inviteWx
	if a.worker == "" {
		prefix, _, _ := strings.Cut(kf, "@")
		a.worker = "wx_" + prefix
	}
	a.inviteWx, a.inviteExpires = "", time.Time{}
}

// AddWaiting puts the user openID in the queue of users waiting for a
// customer-service account (PathWaitCases), as a message to the customer
// service would; again, it moves the user's latest message time to now.
// The user becomes a follower if new. OpenSession takes the user out of
// the queue.
func (s *Server) AddWaiting(openID string) {
	now := s.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user(openID).following = true
	setIn(&s.mg.waiting, openID, now)
}

// SessionOf returns the customer-service account serving openID, if any.
func (s *Server) SessionOf(openID string) (kfAccount string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.mg.sessions[openID]
	if !ok {
		return "", false
	}
	return ss.account, true
}

// AddRecord appends r to the message records that PathMsgRecords reads, as
// the next msgid. A zero Time is the server's now. Send records every
// message it accepts by itself (OperSent, Worker the customservice
// kf_account or "", Text the content of text messages).
func (s *Server) AddRecord(r kefu.Record) {
	if r.Time.IsZero() {
		r.Time = s.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mg.records = append(s.mg.records, r)
}

// recordSent records a message Send accepted. s.mu must be held.
func (s *Server) recordSent(m *kefu.Message, now time.Time) {
	r := kefu.Record{OpenID: m.ToUser, OperCode: kefu.OperSent, Time: now.Truncate(time.Second)}
	if m.CustomService != nil {
		r.Worker = m.CustomService.KfAccount
	}
	if m.MsgType == kefu.TypeText && m.Text != nil {
		r.Text = m.Text.Content
	}
	s.mg.records = append(s.mg.records, r)
}

// uploadExpired reports whether id is an uploaded media id past its 3 days.
// s.mu must be held.
func (s *Server) uploadExpired(id string) bool {
	end, ok := s.mg.expires[id]
	return ok && !s.Now().Before(end)
}

// accountReq is the body of the account and session endpoints.
type accountReq struct {
	KfAccount string `json:"kf_account"`
	Nickname  string `json:"nickname"`
	InviteWx  string `json:"invite_wx"`
	OpenID    string `json:"openid"`
}

// withAccount is withJSON for the endpoints that name an existing account:
// an unknown kf_account answers 65401 before h's own checks.
func withAccount(h func(*Server, *kfAccount, accountReq) reply) route {
	return withJSON(func(s *Server, req accountReq) reply {
		a, ok := s.mg.accounts[req.KfAccount]
		if !ok {
			return errReply(65401)
		}
		return h(s, a, req)
	})
}

// addAccount answers POST /customservice/kfaccount/add: 65404 for a
// kf_account that is not "prefix@wechatid", 65403 for a nickname that is
// empty or over 16 characters, 65406 for an existing account, 65405 past
// 100 accounts.
func (s *Server) addAccount(req accountReq) reply {
	switch _, exists := s.mg.accounts[req.KfAccount]; {
	case kefu.ValidateKfAccount(req.KfAccount) != nil:
		return errReply(65404)
	case !validNickname(req.Nickname):
		return errReply(65403)
	case exists:
		return errReply(65406)
	case len(s.mg.accounts) >= maxAccounts:
		return errReply(65405)
	}
	s.account(req.KfAccount, req.Nickname)
	return okReply()
}

// updateAccount answers POST /customservice/kfaccount/update: 65401 for an
// unknown account, 65403 for a bad nickname.
func (s *Server) updateAccount(a *kfAccount, req accountReq) reply {
	if !validNickname(req.Nickname) {
		return errReply(65403)
	}
	a.nick = req.Nickname
	return okReply()
}

// deleteAccount answers POST /customservice/kfaccount/del: 65401 for an
// unknown account. The account's sessions end with it.
func (s *Server) deleteAccount(a *kfAccount, _ accountReq) reply {
	delete(s.mg.accounts, a.name)
	for id, ss := range s.mg.sessions {
		if ss.account == a.name {
			delete(s.mg.sessions, id)
		}
	}
	return okReply()
}

// inviteWorker answers POST /customservice/kfaccount/inviteworker: 65401
// unknown account; 65409 for an invite_wx that is not a WeChat ID (6 to 20
// of A-Z, a-z, 0-9, _, -, starting with a letter); 65412 when the account
// has a worker; 65411 when it has a pending invitation; 65407 when the user
// is the worker of another account; 65408 when another account invited the
// user and waits. The invitation waits 7 days (AcceptInvite accepts it).
func (s *Server) inviteWorker(a *kfAccount, req accountReq) reply {
	now := s.Now()
	switch {
	case !validWeChatID(req.InviteWx):
		return errReply(65409)
	case a.worker != "":
		return errReply(65412)
	case a.inviteWx != "" && now.Before(a.inviteExpires):
		return errReply(65411)
	}
	for _, o := range s.mg.accounts {
		switch {
		case o.worker == req.InviteWx:
			return errReply(65407)
		case o.inviteWx == req.InviteWx && now.Before(o.inviteExpires):
			return errReply(65408)
		}
	}
	a.inviteWx, a.inviteExpires = req.InviteWx, now.Add(inviteLife)
	return okReply()
}

// byID returns the accounts in kf_id order. s.mu must be held.
func (s *Server) byID() []*kfAccount {
	out := make([]*kfAccount, 0, len(s.mg.accounts))
	for _, a := range s.mg.accounts {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *kfAccount) int { return cmp.Compare(a.id, b.id) })
	return out
}

// listAccounts answers GET /cgi-bin/customservice/getkflist, in kf_id order.
// invite_status is "waiting" until the invitation expires, then "expired".
func (s *Server) listAccounts() reply {
	type entry struct {
		KfAccount        string `json:"kf_account"`
		KfHeadImgURL     string `json:"kf_headimgurl"`
		KfID             string `json:"kf_id"`
		KfNick           string `json:"kf_nick"`
		KfWx             string `json:"kf_wx,omitempty"`
		InviteWx         string `json:"invite_wx,omitempty"`
		InviteExpireTime int64  `json:"invite_expire_time,omitempty"`
		InviteStatus     string `json:"invite_status,omitempty"`
	}
	now := s.Now()
	list := []entry{}
	for _, a := range s.byID() {
		e := entry{KfAccount: a.name, KfHeadImgURL: a.headImg, KfID: strconv.Itoa(a.id), KfNick: a.nick, KfWx: a.worker}
		if a.worker == "" && a.inviteWx != "" {
			e.InviteWx, e.InviteExpireTime, e.InviteStatus = a.inviteWx, a.inviteExpires.Unix(), "waiting"
			if !now.Before(a.inviteExpires) {
				e.InviteStatus = "expired"
			}
		}
		list = append(list, e)
	}
	return listReply("kf_list", list)
}

// listOnline answers GET /cgi-bin/customservice/getonlinekflist: the
// accounts SetOnline marked online, status 1 (web), with their session
// counts.
func (s *Server) listOnline() reply {
	type entry struct {
		KfAccount    string `json:"kf_account"`
		Status       int    `json:"status"`
		KfID         string `json:"kf_id"`
		AcceptedCase int    `json:"accepted_case"`
	}
	counts := map[string]int{}
	for _, ss := range s.mg.sessions {
		counts[ss.account]++
	}
	list := []entry{}
	for _, a := range s.byID() {
		if !a.online {
			continue
		}
		list = append(list, entry{a.name, 1, strconv.Itoa(a.id), counts[a.name]})
	}
	return listReply("kf_online_list", list)
}

// createSession answers POST /customservice/kfsession/create: 65401 unknown
// account, 65402 no worker bound, 65415 worker offline, 40003 unknown user,
// 65414 when another account serves the user; a session the account has
// already succeeds. The user leaves the waiting queue.
func (s *Server) createSession(a *kfAccount, req accountReq) reply {
	switch {
	case a.worker == "":
		return errReply(65402)
	case !a.online:
		return errReply(65415)
	case s.users[req.OpenID] == nil:
		return errReply(40003)
	}
	if ss, ok := s.mg.sessions[req.OpenID]; ok {
		if ss.account != a.name {
			return errReply(65414)
		}
		return okReply()
	}
	if s.mg.sessions == nil {
		s.mg.sessions = make(map[string]*kfSession)
	}
	s.mg.sessions[req.OpenID] = &kfSession{account: a.name, created: s.Now()}
	delete(s.mg.waiting, req.OpenID)
	return okReply()
}

// closeSession answers POST /customservice/kfsession/close: 65401 unknown
// account, 40003 unknown user, 65413 no session, 65414 a session with
// another account.
func (s *Server) closeSession(a *kfAccount, req accountReq) reply {
	ss, has := s.mg.sessions[req.OpenID]
	switch {
	case s.users[req.OpenID] == nil:
		return errReply(40003)
	case !has:
		return errReply(65413)
	case ss.account != a.name:
		return errReply(65414)
	}
	delete(s.mg.sessions, req.OpenID)
	return okReply()
}

// getSession answers GET /customservice/kfsession/getsession?openid=: 40003
// for an unknown user; a user without a session gets kf_account "" and
// createtime 0, as WeChat answers.
func (s *Server) getSession(q url.Values) reply {
	id := q.Get("openid")
	if s.users[id] == nil {
		return errReply(40003)
	}
	a := struct {
		CreateTime int64  `json:"createtime"`
		KfAccount  string `json:"kf_account"`
	}{}
	if ss, ok := s.mg.sessions[id]; ok {
		a.CreateTime, a.KfAccount = ss.created.Unix(), ss.account
	}
	return jsonReply(a)
}

// listSessions answers GET /customservice/kfsession/getsessionlist?kf_account=:
// 65401 for an unknown account; the sessions oldest first.
func (s *Server) listSessions(q url.Values) reply {
	kf := q.Get("kf_account")
	if _, ok := s.mg.accounts[kf]; !ok {
		return errReply(65401)
	}
	type entry struct {
		CreateTime int64  `json:"createtime"`
		OpenID     string `json:"openid"`
	}
	list := []entry{}
	for id, ss := range s.mg.sessions {
		if ss.account == kf {
			list = append(list, entry{ss.created.Unix(), id})
		}
	}
	slices.SortFunc(list, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.CreateTime, b.CreateTime), cmp.Compare(a.OpenID, b.OpenID))
	})
	return listReply("sessionlist", list)
}

// waitCases answers GET /customservice/kfsession/getwaitcase: how many users
// wait (AddWaiting) and the 100 who have waited longest, longest first.
func (s *Server) waitCases() reply {
	type entry struct {
		LatestTime int64  `json:"latest_time"`
		OpenID     string `json:"openid"`
	}
	list := []entry{}
	for id, t := range s.mg.waiting {
		list = append(list, entry{t.Unix(), id})
	}
	slices.SortFunc(list, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.LatestTime, b.LatestTime), cmp.Compare(a.OpenID, b.OpenID))
	})
	return jsonReply(struct {
		Count int     `json:"count"`
		List  []entry `json:"waitcaselist"`
	}{len(list), list[:min(len(list), maxWaitList)]})
}

// recordsReq is the body of the message records endpoint.
type recordsReq struct {
	StartTime int64 `json:"starttime"`
	EndTime   int64 `json:"endtime"`
	MsgID     int64 `json:"msgid"`
	Number    int   `json:"number"`
}

// msgRecords answers POST /customservice/msgrecord/getmsglist: 65416 for a
// starttime or endtime that is not positive, an endtime before starttime, a
// msgid under 1 or a number outside 1..10000; 65417 for a span over 24
// hours. It answers the records whose time (in seconds) lies in
// [starttime, endtime], from msgid on, at most number, with the number
// answered and the msgid to ask for next.
func (s *Server) msgRecords(req recordsReq) reply {
	switch {
	case req.StartTime <= 0 || req.EndTime < req.StartTime || req.MsgID < 1 || req.Number < 1 || req.Number > maxRecordPage:
		return errReply(65416)
	case req.EndTime-req.StartTime > maxRecordSpan:
		return errReply(65417)
	}
	type entry struct {
		OpenID   string `json:"openid"`
		OperCode int    `json:"opercode"`
		Text     string `json:"text"`
		Time     int64  `json:"time"`
		Worker   string `json:"worker"`
	}
	list := []entry{}
	next := req.MsgID
	for i := req.MsgID - 1; i < int64(len(s.mg.records)) && len(list) < req.Number; i++ {
		r := s.mg.records[i]
		if t := r.Time.Unix(); t >= req.StartTime && t <= req.EndTime {
			list = append(list, entry{r.OpenID, int(r.OperCode), r.Text, r.Time.Unix(), r.Worker})
			next = i + 2
		}
	}
	return jsonReply(struct {
		List   []entry `json:"recordlist"`
		Number int     `json:"number"`
		MsgID  int64   `json:"msgid"`
	}{list, len(list), next})
}
